#include "modules/ratelimit/policy.hpp"

#include <string_view>

#include "core/crypto.hpp"
#include "http/envelope.hpp"

namespace ticketd::ratelimit {

namespace asio = boost::asio;
using http::TrafficClass;

namespace {

std::string key(std::string_view rule, std::string_view kind, std::string_view subject) {
  std::string k;
  k.reserve(rule.size() + kind.size() + subject.size() + 2);
  k.append(rule).append(":").append(kind).append(":").append(subject);
  return k;
}

// The caller's own key: the user, or the API key for an organization's service account.
std::string caller_key(const core::Principal& caller) {
  return caller.user_id.empty() ? "key-" + caller.api_key_id : caller.user_id;
}

core::ApiError refused(const Verdict& v, std::string message) {
  core::ApiError e(core::ErrorKind::kRateLimited, "RATE_LIMITED", std::move(message));
  e.with_retry_after(static_cast<int>(v.retry_after_seconds));
  return e;
}

void add_headers(http::Request& req, const Verdict& v) {
  if (!v.limited) return;
  req.add_response_header("RateLimit-Limit", std::to_string(v.limit));
  req.add_response_header("RateLimit-Remaining", std::to_string(v.remaining));
  req.add_response_header("RateLimit-Reset", std::to_string(v.reset_seconds));
}

// E-mail addresses are hashed: Redis keys should not be a list of who tried to log in.
std::string email_key(const std::string& email) {
  return key("login-failures", "email", core::sha256_hex(email).substr(0, 32));
}

}  // namespace

std::vector<Bucket> buckets_for(const Policy& policy, TrafficClass traffic, const std::string& ip,
                                const core::Principal* caller) {
  std::vector<Bucket> out;
  if (traffic == TrafficClass::kOps) return out;
  out.push_back({key("api", "ip", ip), policy.api_ip});
  auto per_caller = [&](std::string_view name, const core::RateRule& rule) {
    if (caller != nullptr) out.push_back({key(name, "caller", caller_key(*caller)), rule});
  };
  switch (traffic) {
    case TrafficClass::kAuth:
      out.push_back({key("auth", "ip", ip), policy.auth_ip});
      break;
    case TrafficClass::kReserve:
    case TrafficClass::kQueue:  // a place in line is a step toward a reserve: the same budget
      per_caller("reserve", policy.reserve_user);
      out.push_back({key("reserve", "ip", ip), policy.reserve_ip});
      break;
    case TrafficClass::kPayments:
      per_caller("payments", policy.payments_user);
      out.push_back({key("payments", "ip", ip), policy.payments_ip});
      break;
    case TrafficClass::kWebhook:
      out.push_back({key("webhook", "ip", ip), policy.webhook_ip});
      break;
    case TrafficClass::kStream:
      out.push_back({key("sse-connect", "ip", ip), policy.sse_connect_ip});
      break;
    case TrafficClass::kReads:
    case TrafficClass::kWrites:
    case TrafficClass::kOps:
      break;
  }
  return out;
}

http::Middleware middleware(Limiter& limiter, Policy policy) {
  auto& limited = limiter.refusals();
  return [&limiter, policy,
          &limited](http::Request& req) -> asio::awaitable<std::optional<http::Response>> {
    auto buckets = buckets_for(policy, req.traffic(), req.remote_ip(), req.principal());
    if (buckets.empty()) co_return std::nullopt;
    const Verdict v = co_await limiter.take(std::move(buckets), true);
    add_headers(req, v);
    if (v.allowed) co_return std::nullopt;
    limited.with({http::traffic_label(req.traffic())}).inc();
    co_return http::error(req.request_id(),
                          refused(v, "Too many requests, retry after the time given"));
  };
}

asio::awaitable<void> check_login(Limiter& limiter, core::RateRule rule, std::string email) {
  std::vector<Bucket> buckets{{email_key(email), rule}};
  const Verdict v = co_await limiter.take(std::move(buckets), false);
  if (!v.allowed) {
    throw refused(v, "Too many failed logins for this account, retry after the time given");
  }
}

asio::awaitable<void> record_failed_login(Limiter& limiter, core::RateRule rule,
                                          std::string email) {
  std::vector<Bucket> buckets{{email_key(email), rule}};
  co_await limiter.take(std::move(buckets), true);
}

}  // namespace ticketd::ratelimit
