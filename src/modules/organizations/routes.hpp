#pragma once
#include <string>

#include "http/router.hpp"
#include "modules/organizations/service.hpp"

namespace ticketd::organizations {

// /orgs, /orgs/:orgId, members and API keys under `api_base`.
void register_routes(http::Router& router, const std::string& api_base, Service& service);

}  // namespace ticketd::organizations
