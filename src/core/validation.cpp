#include "core/validation.hpp"

namespace ticketd::core {

ObjectReader::ObjectReader(const boost::json::value& body) {
  if (!body.is_object()) {
    throw ApiError(ErrorKind::kInvalid, "INVALID_TYPE", "Request body must be a JSON object",
                   {{"INVALID_TYPE", "body", "Expected a JSON object"}});
  }
  obj_ = &body.as_object();
}

const boost::json::value* ObjectReader::get(std::string_view field, bool required) {
  seen_.emplace(field);
  const auto* v = obj_->if_contains(field);
  if (v == nullptr || v->is_null()) {
    if (required) {
      value_errors_.push_back(
          {"REQUIRED", std::string(field), std::string(field) + " is required"});
    }
    return nullptr;
  }
  return v;
}

std::optional<std::string> ObjectReader::string(std::string_view field, bool required) {
  const auto* v = get(field, required);
  if (v == nullptr) return std::nullopt;
  if (!v->is_string()) {
    type_errors_.push_back(
        {"INVALID_TYPE", std::string(field), std::string(field) + " must be a string"});
    return std::nullopt;
  }
  return std::string(v->as_string());
}

std::optional<std::int64_t> ObjectReader::integer(std::string_view field, bool required) {
  const auto* v = get(field, required);
  if (v == nullptr) return std::nullopt;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64() && v->as_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) {
    return static_cast<std::int64_t>(v->as_uint64());
  }
  type_errors_.push_back(
      {"INVALID_TYPE", std::string(field), std::string(field) + " must be an integer"});
  return std::nullopt;
}

std::optional<bool> ObjectReader::boolean(std::string_view field, bool required) {
  const auto* v = get(field, required);
  if (v == nullptr) return std::nullopt;
  if (!v->is_bool()) {
    type_errors_.push_back(
        {"INVALID_TYPE", std::string(field), std::string(field) + " must be a boolean"});
    return std::nullopt;
  }
  return v->as_bool();
}

void ObjectReader::invalid(std::string_view field, std::string_view code, std::string message) {
  value_errors_.push_back({std::string(code), std::string(field), std::move(message)});
}

void ObjectReader::finish() {
  if (!type_errors_.empty()) {
    throw ApiError(ErrorKind::kInvalid, "INVALID_TYPE", "Request body has fields of the wrong type",
                   type_errors_);
  }
  for (const auto& [key, value] : *obj_) {
    if (!seen_.contains(std::string_view(key))) {
      value_errors_.push_back(
          {"UNKNOWN_FIELD", std::string(key), "Unknown field " + std::string(key)});
    }
  }
  if (!value_errors_.empty()) {
    throw ApiError(ErrorKind::kUnprocessable, "VALIDATION_FAILED", "Request body is invalid",
                   value_errors_);
  }
}

}  // namespace ticketd::core
