#pragma once
#include <string>

#include "http/dispatcher.hpp"
#include "http/router.hpp"
#include "modules/iam/service.hpp"

namespace ticketd::iam {

// /auth/register, /auth/login, /auth/refresh, /auth/logout and /me under `api_base`.
void register_routes(http::Router& router, const std::string& api_base, Service& service);

// Authenticates a request that carries `Authorization` (401 when that header is present but
// unusable) and attaches the caller; requests without it pass through anonymous.
http::Middleware authentication_middleware(Service& service);

}  // namespace ticketd::iam
