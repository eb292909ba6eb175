#pragma once
#include <boost/json/value.hpp>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace ticketd::core::json {

// Parses a request body. Throws ApiError kInvalid/MALFORMED_JSON on syntax errors, trailing
// garbage or nesting deeper than `max_depth` (deep nesting is a cheap denial-of-service).
boost::json::value parse(std::string_view text, std::size_t max_depth = 64);

std::string serialize(const boost::json::value& v);

// Appends `s` as a JSON string literal (quotes and escapes), for hand-built documents on hot
// paths that are rendered once and served many times.
void append_quoted(std::string& out, std::string_view s);
// The same for an optional string: null when absent.
void append_quoted_or_null(std::string& out, const std::optional<std::string>& s);

// An optional as a JSON value: null when absent.
template <typename T>
boost::json::value opt(const std::optional<T>& v) {
  return v ? boost::json::value(*v) : boost::json::value(nullptr);
}

}  // namespace ticketd::core::json
