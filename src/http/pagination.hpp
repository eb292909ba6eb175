#pragma once
#include <cstdint>

#include "http/envelope.hpp"
#include "http/request.hpp"

namespace ticketd::http {

// `page` (≥ 1, default 1) and `limit` (1..max_limit, default min(20, max_limit) or the given
// default) from the query string; anything else is a 422 naming the parameter. `total` of the
// result is 0 until the caller fills it.
Page read_page(const Request& req, std::int64_t max_limit = 100, std::int64_t default_limit = 20);

}  // namespace ticketd::http
