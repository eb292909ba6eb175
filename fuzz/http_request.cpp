// The request path before a handler runs: an HTTP/1.1 request parsed by Beast with the server's
// limits, turned into our Request, matched by the Router, its query, pagination, path ids,
// bearer token, client address (X-Forwarded-For behind trusted proxies) and JSON body read the
// way handlers read them. Any of it may refuse, only as a client error.
#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common.hpp"
#include "core/trusted_proxies.hpp"
#include "http/pagination.hpp"
#include "http/params.hpp"
#include "http/request.hpp"
#include "http/router.hpp"
#include "modules/iam/tokens.hpp"

namespace {

namespace bhttp = ticketd::http::bhttp;
using ticketd::fuzz::check;

const ticketd::http::Router& router() {
  static const auto r = [] {
    ticketd::http::Router router;
    auto never = [](ticketd::http::Request&) -> boost::asio::awaitable<ticketd::http::Response> {
      co_return ticketd::http::Response{};
    };
    // The shapes of the real table: literals, parameters, a literal beside a parameter.
    for (const char* p :
         {"/health/live", "/api/v1/orgs/:orgId", "/api/v1/orgs/:orgId/members/:userId",
          "/api/v1/events/:eventId/seats", "/api/v1/payments/webhook",
          "/api/v1/payments/:paymentId", "/api/v1/me/tickets"}) {
      router.add(bhttp::verb::get, p, never);
    }
    router.add(bhttp::verb::post, "/api/v1/payments/webhook", never);
    router.add(bhttp::verb::patch, "/api/v1/events/:eventId/seats", never);
    return router;
  }();
  return r;
}

const ticketd::core::TrustedProxies& proxies() {
  static const auto p = [] {
    std::string error;
    return *ticketd::core::TrustedProxies::parse("127.0.0.1, 10.0.0.0/8, ::1, fd00::/8", error);
  }();
  return p;
}

void handle(ticketd::http::Request& req) {
  namespace http = ticketd::http;
  const auto match = router().match(req.method(), req.path());
  for (const auto& [name, value] : match.params) {
    check(!value.empty() && value.find('/') == std::string::npos, "a parameter is one segment");
  }
  if (match.handler == nullptr) {
    for (auto verb : match.allowed) check(verb != req.method(), "a 405 does not allow the method");
    return;
  }
  req.set_route(match.pattern, match.params, http::TrafficClass::kReads);
  const auto page = http::read_page(req);
  check(page.page >= 1 && page.limit >= 1 && page.limit <= 100, "page within bounds");
  for (const auto& [name, value] : match.params) {
    const auto id = http::uuid_param(req, name, "Thing");
    check(id.size() == 36, "a path id is a canonical UUID");
  }
  req.query_param("q");
  ticketd::iam::bearer_token(req.header(bhttp::field::authorization));
  proxies().client_ip(req.remote_ip(), req.header("X-Forwarded-For"));
  req.json_if_present();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  bhttp::request_parser<bhttp::string_body> parser;
  parser.header_limit(16U << 10);
  parser.body_limit(std::uint64_t{64} << 10);
  parser.eager(true);
  boost::beast::error_code ec;
  parser.put(boost::asio::buffer(data, size), ec);
  if (ec || !parser.is_done()) return 0;  // the server answers 400/413/431 and closes
  auto message = parser.release();
  std::string body = std::move(message.body());
  ticketd::http::Request req(std::move(message.base()), "127.0.0.1", std::move(body));
  try {
    handle(req);
  } catch (const ticketd::core::ApiError& e) {
    ticketd::fuzz::expect_client_error(e);
  }
  return 0;
}
