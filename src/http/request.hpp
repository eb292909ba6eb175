#pragma once
#include <any>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/actor.hpp"
#include "core/principal.hpp"
#include "http/traffic.hpp"

namespace ticketd::http {

namespace bhttp = boost::beast::http;

using PathParams = std::vector<std::pair<std::string_view, std::string>>;

// One HTTP request as the handlers see it. Built by the server from the request head as soon as
// it arrived, enriched by the dispatcher (request id, route, path params, caller) before the
// body is read, then given its body (set_body) before the handler runs.
class Request {
 public:
  Request(bhttp::request_header<> head, std::string remote_ip, std::string body = {});

  bhttp::verb method() const noexcept { return head_.method(); }
  std::string_view method_string() const noexcept { return head_.method_string(); }
  std::string_view target() const noexcept { return head_.target(); }
  std::string_view path() const noexcept { return path_; }
  std::string_view query() const noexcept { return query_; }
  const std::string& body() const noexcept { return body_; }
  void set_body(std::string body) { body_ = std::move(body); }
  bool keep_alive() const noexcept { return keep_alive_; }
  unsigned version() const noexcept { return head_.version(); }

  // Header value, or empty when absent.
  std::string_view header(std::string_view name) const;
  std::string_view header(bhttp::field name) const;

  // Path parameter captured by the route pattern (":orgId"), if the route declared it.
  std::optional<std::string_view> param(std::string_view name) const;
  // Decoded query parameter (first occurrence), if present.
  std::optional<std::string> query_param(std::string_view name) const;

  // The body as JSON. Throws ApiError: 415 when Content-Type is not JSON, 400 when the body is
  // missing or malformed. Parsed once; later calls return the same value.
  const boost::json::value& json();
  // For writes whose body is optional: nullptr when there is none, else json() (same errors).
  const boost::json::value* json_if_present();

  const std::string& request_id() const noexcept { return request_id_; }
  const std::string& remote_ip() const noexcept { return remote_ip_; }
  std::string_view route() const noexcept { return route_; }
  std::chrono::steady_clock::time_point started() const noexcept { return started_; }

  // The authenticated caller, when the auth middleware established one.
  const core::Principal* principal() const noexcept { return principal_ ? &*principal_ : nullptr; }
  void set_principal(core::Principal p) { principal_ = std::move(p); }
  // What authentication loaded beyond the Principal (opaque to http/), so a handler of the
  // same module can reuse it instead of querying again.
  const std::any& auth_details() const noexcept { return auth_details_; }
  void set_auth_details(std::any details) { auth_details_ = std::move(details); }
  // The caller, or ApiError 401 AUTH_REQUIRED.
  const core::Principal& require_principal() const;
  // The authenticated caller as the author of a change (audit rows, outbox `actor`).
  core::Actor actor() const;

  // Headers every answer to this request carries, whoever produces it (RateLimit-*).
  void add_response_header(std::string name, std::string value) {
    response_headers_.emplace_back(std::move(name), std::move(value));
  }
  const std::vector<std::pair<std::string, std::string>>& response_headers() const noexcept {
    return response_headers_;
  }

  void set_request_id(std::string id) { request_id_ = std::move(id); }
  void set_route(std::string_view route, PathParams params, TrafficClass traffic) {
    route_ = route;
    params_ = std::move(params);
    traffic_ = traffic;
  }
  // The matched route's class (kReads until a route matched).
  TrafficClass traffic() const noexcept { return traffic_; }

 private:
  bhttp::request_header<> head_;
  bool keep_alive_ = true;  // from the version and the Connection header
  std::string body_;
  std::string remote_ip_;
  std::string path_;
  std::string query_;
  std::string request_id_;
  std::string_view route_ = "unmatched";
  PathParams params_;
  TrafficClass traffic_ = TrafficClass::kReads;
  std::optional<boost::json::value> json_;
  std::optional<core::Principal> principal_;
  std::any auth_details_;
  std::vector<std::pair<std::string, std::string>> response_headers_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

// Accepts a client-supplied X-Request-Id when it is 1–128 visible ASCII characters.
bool is_acceptable_request_id(std::string_view id) noexcept;

}  // namespace ticketd::http
