#pragma once
// Route table: method + path pattern ("/api/v1/orgs/:orgId") → handler. Literal segments beat
// parameters at the first position where two patterns differ, whatever the registration order.
#include <boost/asio/awaitable.hpp>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/request.hpp"
#include "http/response.hpp"
#include "http/traffic.hpp"

namespace ticketd::http {

using Handler = std::function<boost::asio::awaitable<Response>(Request&)>;
// Checks a request from its head alone (caller, path parameters) and throws ApiError (401, 403,
// 404) when the body must not even be read.
using Authorizer = std::function<boost::asio::awaitable<void>(Request&)>;

struct RouteOptions {
  // Overrides the server's default body limit (e.g. venue layouts up to 16 MiB).
  std::optional<std::size_t> body_limit;
  // Runs after authentication and before the body is read: every route with a large body
  // limit has one, so an attacker cannot make us read and expand megabytes before a 403.
  Authorizer authorize;
  // Which shedding bound and rate limits apply; unset: kReads for GET/HEAD, kWrites otherwise.
  std::optional<TrafficClass> traffic;
};

class Router {
 public:
  // Throws std::invalid_argument for a malformed pattern or a duplicate (method, pattern).
  void add(bhttp::verb method, std::string_view pattern, Handler handler,
           RouteOptions options = {});

  struct Match {
    const Handler* handler = nullptr;  // null: no route for this method
    std::string_view pattern;          // the matched pattern (metrics label)
    PathParams params;
    const RouteOptions* options = nullptr;
    std::vector<bhttp::verb> allowed;  // when the path exists with other methods (405)
  };
  Match match(bhttp::verb method, std::string_view path) const;

  std::size_t size() const noexcept { return routes_.size(); }
  // "METHOD pattern" of every route, in registration order (the startup log lists them; a test
  // compares them with openapi/openapi.yaml).
  std::vector<std::string> describe() const;
  // The largest body limit any route declares, or `fallback` when larger.
  std::size_t largest_body_limit(std::size_t fallback) const noexcept;

 private:
  struct Segment {
    std::string text;  // literal text, or the parameter name
    bool param = false;
  };
  struct Route {
    bhttp::verb method;
    std::string pattern;
    std::vector<Segment> segments;
    Handler handler;
    RouteOptions options;
  };
  // Fills `params` and returns true when the route matches the split path.
  static bool matches(const Route& r, const std::vector<std::string_view>& parts,
                      PathParams* params);
  // True when a is more specific than b (a literal where b has a parameter, first difference).
  static bool more_specific(const Route& a, const Route& b);
  // True when both patterns name one resource (the same literals, parameters in the same places).
  static bool same_resource(const Route& a, const Route& b);

  std::vector<Route> routes_;
};

}  // namespace ticketd::http
