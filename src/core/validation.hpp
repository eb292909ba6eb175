#pragma once
// Reads a JSON request object field by field and collects every problem before throwing:
// a wrong type is a 400 (kInvalid, INVALID_TYPE), a bad value or an unknown field a 422
// (kUnprocessable). Handlers describe their body once instead of hand-checking each field.
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

class ObjectReader {
 public:
  // Throws kInvalid when `body` is not a JSON object.
  explicit ObjectReader(const boost::json::value& body);

  std::optional<std::string> string(std::string_view field, bool required);
  std::optional<std::int64_t> integer(std::string_view field, bool required);
  std::optional<bool> boolean(std::string_view field, bool required);

  // Records a value problem (422) for `field`.
  void invalid(std::string_view field, std::string_view code, std::string message);

  // Throws when anything was wrong, unknown fields included; call after reading every field.
  void finish();

 private:
  const boost::json::value* get(std::string_view field, bool required);

  const boost::json::object* obj_ = nullptr;
  std::set<std::string, std::less<>> seen_;
  std::vector<FieldError> type_errors_;
  std::vector<FieldError> value_errors_;
};

}  // namespace ticketd::core
