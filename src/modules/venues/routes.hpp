#pragma once
#include <cstddef>
#include <string>

#include "http/router.hpp"
#include "modules/venues/layout.hpp"
#include "modules/venues/service.hpp"

namespace ticketd::venues {

struct RouteSettings {
  std::size_t layout_body_limit = 16 << 20;  // HTTP_LAYOUT_BODY_LIMIT_BYTES
  LayoutLimits limits;
};

void register_routes(http::Router& router, const std::string& base, Service& service,
                     const RouteSettings& settings);

}  // namespace ticketd::venues
