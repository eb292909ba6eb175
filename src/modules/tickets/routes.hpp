#pragma once
#include <string>

#include "http/router.hpp"
#include "modules/tickets/service.hpp"

namespace ticketd::tickets {

void register_routes(http::Router& router, const std::string& base, Service& service);

}  // namespace ticketd::tickets
