#pragma once
#include <boost/json/value.hpp>
#include <cstddef>
#include <string>
#include <string_view>

namespace ticketd::core::json {

// Parses a request body. Throws ApiError kInvalid/MALFORMED_JSON on syntax errors, trailing
// garbage or nesting deeper than `max_depth` (deep nesting is a cheap denial-of-service).
boost::json::value parse(std::string_view text, std::size_t max_depth = 64);

std::string serialize(const boost::json::value& v);

}  // namespace ticketd::core::json
