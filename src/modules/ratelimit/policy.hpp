#pragma once
// Which buckets a request draws from, by traffic class, client address and caller; and the
// HTTP face of a verdict (RateLimit-* headers, 429 RATE_LIMITED).
#include <string>
#include <vector>

#include "core/errors.hpp"
#include "core/rate_rule.hpp"
#include "http/dispatcher.hpp"
#include "http/request.hpp"
#include "modules/ratelimit/buckets.hpp"
#include "modules/ratelimit/limiter.hpp"

namespace ticketd::ratelimit {

// The configured rules (RATE_LIMIT_*); each may be off.
struct Policy {
  core::RateRule api_ip;  // every request but health and metrics, per address
  core::RateRule auth_ip;
  core::RateRule login_failures_email;
  core::RateRule reserve_user;
  core::RateRule reserve_ip;
  core::RateRule payments_user;
  core::RateRule payments_ip;
  core::RateRule webhook_ip;
  core::RateRule sse_connect_ip;
};

// The buckets of one request: the general per-address budget and its class's own, per address
// and, for reserve and payments, per caller (user, or API key).
std::vector<Bucket> buckets_for(const Policy& policy, http::TrafficClass traffic,
                                const std::string& ip, const core::Principal* caller);

// Runs after authentication (so a caller's own buckets apply) and before the body is read: one
// Limiter::take per request. Refused: 429 RATE_LIMITED with Retry-After; either way the
// RateLimit-Limit/-Remaining/-Reset headers of the bucket nearest to refusing.
http::Middleware middleware(Limiter& limiter, Policy policy);

// For iam's failed-login limit per e-mail address (iam::LoginThrottle): check() throws 429
// RATE_LIMITED once the address has no failure left, failed() spends one.
boost::asio::awaitable<void> check_login(Limiter& limiter, core::RateRule rule, std::string email);
boost::asio::awaitable<void> record_failed_login(Limiter& limiter, core::RateRule rule,
                                                 std::string email);

}  // namespace ticketd::ratelimit
