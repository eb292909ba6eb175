#pragma once
#include <string>

#include "http/router.hpp"
#include "modules/payments/service.hpp"

namespace ticketd::payments {

struct RouteSettings {
  bool simulator = false;  // registers POST /dev/payments/:id/complete
};

void register_routes(http::Router& router, const std::string& base, Service& service,
                     RouteSettings settings);

}  // namespace ticketd::payments
