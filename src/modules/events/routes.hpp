#pragma once
#include <string>

#include "http/router.hpp"
#include "modules/events/service.hpp"

namespace ticketd::events {

void register_routes(http::Router& router, const std::string& base, Service& service);

}  // namespace ticketd::events
