#pragma once
// Reading the path and the query string: ids in paths, and the one error for a bad query
// parameter.
#include <string>
#include <string_view>

#include "core/errors.hpp"
#include "http/request.hpp"

namespace ticketd::http {

// The path parameter `name` as a canonical (lowercase) UUID. One that is not a UUID answers
// 404 "<resource> not found": such a resource cannot exist.
std::string uuid_param(const Request& req, std::string_view name, std::string_view resource);

// 422 INVALID_QUERY naming the parameter `name`, with `message` as its detail.
core::ApiError invalid_query(std::string_view name, std::string message);

}  // namespace ticketd::http
