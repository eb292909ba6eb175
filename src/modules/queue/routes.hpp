#pragma once
#include <string>

#include "http/router.hpp"
#include "modules/queue/service.hpp"

namespace ticketd::queue {

// POST {base}/events/:eventId/queue.
void register_routes(http::Router& router, const std::string& base, Service& service);

}  // namespace ticketd::queue
