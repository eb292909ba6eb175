#include "modules/payments/routes.hpp"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "core/errors.hpp"
#include "core/ids.hpp"
#include "core/validation.hpp"
#include "http/envelope.hpp"
#include "http/pagination.hpp"
#include "http/params.hpp"

namespace ticketd::payments {

namespace asio = boost::asio;
using http::bhttp::verb;

namespace {

CreateRequest read_create(http::Request& req) {
  core::ObjectReader r(req.json());
  CreateRequest out;
  auto reservation = r.string("reservationId", true);
  auto provider = r.string("provider", false);
  out.amount_cents = r.integer("amountCents", false);
  out.currency = r.string("currency", false);
  if (reservation && !core::is_uuid(*reservation)) {
    r.invalid("reservationId", "INVALID_ID", "reservationId must be a reservation id");
  }
  if (out.amount_cents && *out.amount_cents < 0) {
    r.invalid("amountCents", "INVALID_AMOUNT", "amountCents must not be negative");
  }
  if (out.currency && !core::is_currency_code(*out.currency)) {
    r.invalid("currency", "INVALID_CURRENCY", "currency must be a 3-letter ISO code like EUR");
  }
  r.finish();
  out.reservation_id = *core::canonical_uuid(*reservation);  // checked above
  if (provider) out.provider = *provider;
  return out;
}

// What is kept of a webhook request's headers next to its raw body.
std::string webhook_headers(const http::Request& req) {
  boost::json::object h;
  for (const char* name : {"X-Webhook-Signature", "Content-Type", "User-Agent"}) {
    const auto v = req.header(name);
    if (!v.empty()) h[name] = std::string(v.substr(0, 512));
  }
  h["remoteIp"] = req.remote_ip();
  return boost::json::serialize(h);
}

}  // namespace

void register_routes(http::Router& router, const std::string& base, Service& service,
                     RouteSettings settings) {
  router.add(
      verb::post, base + "/payments",
      [&service](http::Request& req) -> asio::awaitable<http::Response> {
        const auto& caller = req.require_principal();
        auto request = read_create(req);
        core::Actor actor = req.actor();
        auto created = co_await service.create(caller, std::move(request), std::move(actor));
        co_return http::ok_rendered(
            req, created.json, std::string(),
            created.created ? http::bhttp::status::created : http::bhttp::status::ok);
      },
      http::RouteOptions{.traffic = http::TrafficClass::kPayments});

  router.add(verb::get, base + "/payments/:paymentId",
             [&service](http::Request& req) -> asio::awaitable<http::Response> {
               const auto& caller = req.require_principal();
               const auto id = http::uuid_param(req, "paymentId", "Payment");
               auto json = co_await service.get(caller, id);
               co_return http::ok_rendered(req, json, std::string());
             });

  // The provider calls this; it authenticates by signature, not by bearer token.
  router.add(
      verb::post, base + "/payments/webhook",
      [&service](http::Request& req) -> asio::awaitable<http::Response> {
        WebhookRequest request;
        request.raw_body = req.body();
        request.signature = std::string(req.header("X-Webhook-Signature"));
        request.headers_json = webhook_headers(req);
        request.correlation_id = req.request_id();
        auto json = co_await service.webhook(std::move(request));
        co_return http::ok_rendered(req, json, std::string());
      },
      http::RouteOptions{.traffic = http::TrafficClass::kWebhook});

  router.add(
      verb::post, base + "/payments/:paymentId/refund",
      [&service](http::Request& req) -> asio::awaitable<http::Response> {
        const auto& caller = req.require_principal();
        const auto id = http::uuid_param(req, "paymentId", "Payment");
        std::optional<std::string> reason;
        if (const auto* body = req.json_if_present()) {
          core::ObjectReader r(*body);
          reason = r.string("reason", false, core::Chars::kText);
          r.length("reason", reason, 0, 500, "INVALID_REASON");
          r.finish();
        }
        core::Actor actor = req.actor();
        auto json = co_await service.refund(caller, id, std::move(reason), std::move(actor));
        co_return http::ok_rendered(req, json, std::string());
      },
      http::RouteOptions{.traffic = http::TrafficClass::kPayments});

  if (settings.simulator) {
    router.add(
        verb::post, base + "/dev/payments/:paymentId/complete",
        [&service](http::Request& req) -> asio::awaitable<http::Response> {
          const auto& caller = req.require_principal();
          const auto id = http::uuid_param(req, "paymentId", "Payment");
          core::ObjectReader r(req.json());
          auto outcome = r.string("outcome", true);
          if (outcome && *outcome != "SUCCEEDED" && *outcome != "FAILED") {
            r.invalid("outcome", "INVALID_OUTCOME", "outcome must be SUCCEEDED or FAILED");
          }
          r.finish();
          core::Actor actor = req.actor();
          std::string chosen = *outcome;
          auto json = co_await service.simulate(caller, id, std::move(chosen), std::move(actor));
          co_return http::ok_rendered(req, json, std::string());
        },
        http::RouteOptions{.traffic = http::TrafficClass::kPayments});
  }
}

}  // namespace ticketd::payments
