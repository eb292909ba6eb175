#pragma once
// Reads a JSON request object field by field and collects every problem before throwing:
// a wrong type is a 400 (kInvalid, INVALID_TYPE), a bad value or an unknown field a 422
// (kUnprocessable). Handlers describe their body once instead of hand-checking each field.
// Nested objects get their own reader that reports into the root one with a path prefix
// ("sections[2].rows[0].name"), so a whole document is validated in one pass.
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/errors.hpp"

namespace ticketd::core {

// Which characters a string field may hold beyond printable text. Control characters are never
// accepted (NUL would be cut off by the database, the others hide in logs and terminals); free
// text fields (descriptions, reasons) may contain tabs and line breaks.
enum class Chars { kLine, kText };

// The index of the first character `chars` refuses (C0 controls, DEL, C1 controls encoded as
// UTF-8), or npos.
std::size_t find_control_character(std::string_view s, Chars chars) noexcept;

// The characters (Unicode code points) of UTF-8 text: what the API's "1 to 100 characters" and
// JSON Schema's minLength/maxLength count, not bytes (a 32-character label of accented letters
// or emoji is 64-128 bytes).
std::size_t code_points(std::string_view s) noexcept;

class ObjectReader {
 public:
  // Throws kInvalid when `body` is not a JSON object.
  explicit ObjectReader(const boost::json::value& body);
  // A nested object at `path`, reporting into `root`. When `value` is not an object a type error
  // is recorded and every read returns nothing (ok() is false).
  ObjectReader(const boost::json::value& value, std::string path, ObjectReader& root);
  ObjectReader(const ObjectReader&) = delete;
  ObjectReader& operator=(const ObjectReader&) = delete;

  bool ok() const noexcept { return obj_ != nullptr; }

  // A string; control characters record 422 INVALID_CHARACTERS (the value is still returned for
  // the field's own checks: finish() throws before anything acts on it).
  std::optional<std::string> string(std::string_view field, bool required,
                                    Chars chars = Chars::kLine);
  std::optional<std::int64_t> integer(std::string_view field, bool required);
  std::optional<double> number(std::string_view field, bool required);
  std::optional<bool> boolean(std::string_view field, bool required);
  const boost::json::array* array(std::string_view field, bool required);

  // For updates where null means "clear": nullopt when absent, an engaged empty optional for an
  // explicit null, else the value.
  std::optional<std::optional<std::string>> nullable_string(std::string_view field,
                                                            Chars chars = Chars::kLine);
  std::optional<std::optional<std::int64_t>> nullable_integer(std::string_view field);
  // An ISO-8601 timestamp with a zone (parse_iso8601), normalized to the wire format (UTC,
  // milliseconds), or 422 INVALID_TIMESTAMP. PostgreSQL is not the judge: its parser takes text
  // such as "2030-01-01t05:00:00Z*" that the document refuses.
  std::optional<std::string> timestamp(std::string_view field, bool required);
  // Absent (nullopt), null (an engaged empty optional: clear it), or a timestamp as above.
  std::optional<std::optional<std::string>> nullable_timestamp(std::string_view field);
  bool present(std::string_view field) const;
  // Accepts `field` with any value (free-form members such as a webhook's payload).
  void allow(std::string_view field) { seen_.emplace(field); }

  // Records `code` (422) unless a present `value` has `min` to `max` characters (code points).
  void length(std::string_view field, const std::optional<std::string>& value, std::size_t min,
              std::size_t max, std::string_view code = "INVALID_LENGTH");

  // Records a value problem (422) for `field` (relative to this reader's path).
  void invalid(std::string_view field, std::string_view code, std::string message);
  // The same for a full path (e.g. "seatIds[3]").
  void invalid_at(std::string path, std::string_view code, std::string message);
  void wrong_type(std::string path, std::string message);
  // "<path>.<field>", or the field alone at the root.
  std::string path(std::string_view field) const;
  // Value problems recorded so far (all readers of the document).
  std::size_t value_error_count() const noexcept;

  // Records unknown fields. At the root, throws when anything was wrong; call after reading
  // every field (nested readers first).
  void finish();

 private:
  const boost::json::value* get(std::string_view field, bool required);
  std::optional<std::string> as_timestamp(std::string_view field, const std::string& raw);
  ObjectReader& root() noexcept { return root_ ? *root_ : *this; }

  const boost::json::object* obj_ = nullptr;
  ObjectReader* root_ = nullptr;
  std::string path_;
  std::set<std::string, std::less<>> seen_;
  // Bounded: a 50,000-seat document full of mistakes answers with the first ones.
  static constexpr std::size_t kMaxErrors = 100;
  std::vector<FieldError> type_errors_;
  std::vector<FieldError> value_errors_;
};

}  // namespace ticketd::core
