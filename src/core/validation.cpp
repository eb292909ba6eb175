#include "core/validation.hpp"

#include "core/time.hpp"

namespace ticketd::core {

std::size_t find_control_character(std::string_view s, Chars chars) noexcept {
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20) {
      if (chars == Chars::kText && (c == '\t' || c == '\n' || c == '\r')) continue;
      return i;
    }
    if (c == 0x7f) return i;
    // U+0080..U+009F are C1 controls: C2 80..C2 9F in UTF-8.
    if (c == 0xc2 && i + 1 < s.size()) {
      const auto next = static_cast<unsigned char>(s[i + 1]);
      if (next >= 0x80 && next <= 0x9f) return i;
    }
  }
  return std::string_view::npos;
}

std::size_t code_points(std::string_view s) noexcept {
  std::size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xc0) != 0x80;  // not a continuation byte
  return n;
}

std::optional<std::string> ObjectReader::as_timestamp(std::string_view field,
                                                      const std::string& raw) {
  auto t = wire_timestamp(raw);
  if (!t) {
    invalid(field, "INVALID_TIMESTAMP",
            path(field) + " must be an ISO-8601 date-time with a zone, e.g. 2026-12-31T20:00:00Z");
  }
  return t;
}

std::optional<std::string> ObjectReader::timestamp(std::string_view field, bool required) {
  auto raw = string(field, required);
  if (!raw) return std::nullopt;
  return as_timestamp(field, *raw);
}

std::optional<std::optional<std::string>> ObjectReader::nullable_timestamp(std::string_view field) {
  auto raw = nullable_string(field);
  if (!raw) return std::nullopt;
  if (!*raw) return std::optional<std::string>{};
  auto t = as_timestamp(field, **raw);
  if (!t) return std::nullopt;
  return std::optional<std::string>{std::move(*t)};
}

void ObjectReader::length(std::string_view field, const std::optional<std::string>& value,
                          std::size_t min, std::size_t max, std::string_view code) {
  if (!value) return;
  const auto n = code_points(*value);
  if (n >= min && n <= max) return;
  invalid(field, code,
          path(field) +
              (min == 0 ? " must be at most " + std::to_string(max)
                        : " must be " + std::to_string(min) + " to " + std::to_string(max)) +
              " characters");
}

ObjectReader::ObjectReader(const boost::json::value& body) {
  if (!body.is_object()) {
    throw ApiError(ErrorKind::kInvalid, "INVALID_TYPE", "Request body must be a JSON object",
                   {{"INVALID_TYPE", "body", "Expected a JSON object"}});
  }
  obj_ = &body.as_object();
}

ObjectReader::ObjectReader(const boost::json::value& value, std::string path, ObjectReader& root)
    : root_(&root.root()), path_(std::move(path)) {
  if (value.is_object()) {
    obj_ = &value.as_object();
  } else {
    wrong_type(path_, path_ + " must be an object");
  }
}

std::string ObjectReader::path(std::string_view field) const {
  if (path_.empty()) return std::string(field);
  std::string p = path_;
  p += '.';
  p += field;
  return p;
}

std::size_t ObjectReader::value_error_count() const noexcept {
  return (root_ ? root_ : this)->value_errors_.size();
}

void ObjectReader::wrong_type(std::string path, std::string message) {
  auto& errs = root().type_errors_;
  if (errs.size() < kMaxErrors)
    errs.push_back({"INVALID_TYPE", std::move(path), std::move(message)});
}

void ObjectReader::invalid_at(std::string path, std::string_view code, std::string message) {
  auto& errs = root().value_errors_;
  if (errs.size() < kMaxErrors)
    errs.push_back({std::string(code), std::move(path), std::move(message)});
}

void ObjectReader::invalid(std::string_view field, std::string_view code, std::string message) {
  invalid_at(path(field), code, std::move(message));
}

bool ObjectReader::present(std::string_view field) const {
  return obj_ != nullptr && obj_->if_contains(field) != nullptr;
}

const boost::json::value* ObjectReader::get(std::string_view field, bool required) {
  if (obj_ == nullptr) return nullptr;
  seen_.emplace(field);
  const auto* v = obj_->if_contains(field);
  if (v == nullptr || v->is_null()) {
    if (required) invalid(field, "REQUIRED", path(field) + " is required");
    return nullptr;
  }
  return v;
}

std::optional<std::string> ObjectReader::string(std::string_view field, bool required,
                                                Chars chars) {
  const auto* v = get(field, required);
  if (v == nullptr) return std::nullopt;
  if (!v->is_string()) {
    wrong_type(path(field), path(field) + " must be a string");
    return std::nullopt;
  }
  const std::string_view text = v->as_string();
  if (find_control_character(text, chars) != std::string_view::npos) {
    invalid(field, "INVALID_CHARACTERS",
            path(field) + (chars == Chars::kText
                               ? " must not contain control characters other than tab and newline"
                               : " must not contain control characters"));
    // Still returned: the field's own checks add their codes, and finish() refuses the document
    // before anything can act on it.
  }
  return std::string(text);
}

std::optional<std::int64_t> ObjectReader::integer(std::string_view field, bool required) {
  const auto* v = get(field, required);
  if (v == nullptr) return std::nullopt;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64() && v->as_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) {
    return static_cast<std::int64_t>(v->as_uint64());
  }
  wrong_type(path(field), path(field) + " must be an integer");
  return std::nullopt;
}

std::optional<double> ObjectReader::number(std::string_view field, bool required) {
  const auto* v = get(field, required);
  if (v == nullptr) return std::nullopt;
  if (v->is_double()) return v->as_double();
  if (v->is_int64()) return static_cast<double>(v->as_int64());
  if (v->is_uint64()) return static_cast<double>(v->as_uint64());
  wrong_type(path(field), path(field) + " must be a number");
  return std::nullopt;
}

std::optional<bool> ObjectReader::boolean(std::string_view field, bool required) {
  const auto* v = get(field, required);
  if (v == nullptr) return std::nullopt;
  if (!v->is_bool()) {
    wrong_type(path(field), path(field) + " must be a boolean");
    return std::nullopt;
  }
  return v->as_bool();
}

const boost::json::array* ObjectReader::array(std::string_view field, bool required) {
  const auto* v = get(field, required);
  if (v == nullptr) return nullptr;
  if (!v->is_array()) {
    wrong_type(path(field), path(field) + " must be an array");
    return nullptr;
  }
  return &v->as_array();
}

std::optional<std::optional<std::string>> ObjectReader::nullable_string(std::string_view field,
                                                                        Chars chars) {
  if (!present(field)) {
    if (obj_ != nullptr) seen_.emplace(field);
    return std::nullopt;
  }
  if (obj_->at(field).is_null()) {
    seen_.emplace(field);
    return std::optional<std::string>{};
  }
  auto v = string(field, false, chars);
  if (!v) return std::nullopt;
  return std::optional<std::string>{std::move(*v)};
}

std::optional<std::optional<std::int64_t>> ObjectReader::nullable_integer(std::string_view field) {
  if (!present(field)) {
    if (obj_ != nullptr) seen_.emplace(field);
    return std::nullopt;
  }
  if (obj_->at(field).is_null()) {
    seen_.emplace(field);
    return std::optional<std::int64_t>{};
  }
  auto v = integer(field, false);
  if (!v) return std::nullopt;
  return std::optional<std::int64_t>{*v};
}

void ObjectReader::finish() {
  if (obj_ != nullptr) {
    for (const auto& [key, value] : *obj_) {
      if (!seen_.contains(std::string_view(key))) {
        invalid(std::string_view(key), "UNKNOWN_FIELD", "Unknown field " + path(key));
      }
    }
  }
  if (root_ != nullptr) return;
  if (!type_errors_.empty()) {
    throw ApiError(ErrorKind::kInvalid, "INVALID_TYPE", "Request body has fields of the wrong type",
                   type_errors_);
  }
  if (!value_errors_.empty()) {
    throw ApiError(ErrorKind::kUnprocessable, "VALIDATION_FAILED", "Request body is invalid",
                   value_errors_);
  }
}

}  // namespace ticketd::core
