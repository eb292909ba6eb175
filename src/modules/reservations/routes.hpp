#pragma once
#include <string>

#include "http/router.hpp"
#include "modules/reservations/service.hpp"

namespace ticketd::reservations {

struct RouteSettings {
  int max_units = 10;  // RESERVATION_MAX_SEATS: seats plus GA units per reservation
};

void register_routes(http::Router& router, const std::string& base, Service& service,
                     RouteSettings settings);

}  // namespace ticketd::reservations
