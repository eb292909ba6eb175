#pragma once
// Payments (openapi/openapi.yaml, /payments): intents for a customer's active reservation (one
// non-failed payment per reservation), signed provider webhooks driving the payment state machine,
// the simulated provider's checkout, and manual refunds by organization admins. Tickets are issued
// asynchronously by the payment.succeeded consumer (modules/tickets), never here.
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <optional>
#include <string>

#include "core/actor.hpp"
#include "core/metrics.hpp"
#include "core/principal.hpp"
#include "modules/events/service.hpp"
#include "modules/payments/provider.hpp"
#include "modules/payments/repository.hpp"
#include "modules/payments/simulated.hpp"

namespace ticketd::payments {

struct CreateRequest {
  std::string reservation_id;
  std::string provider = "simulated";
  std::optional<std::int64_t> amount_cents;
  std::optional<std::string> currency;
};

struct Created {
  bool created = false;  // false: the reservation's existing payment
  std::string json;
};

struct WebhookRequest {
  std::string raw_body;
  std::string signature;     // X-Webhook-Signature
  std::string headers_json;  // what is kept of the request headers
  std::string correlation_id;
};

class Service {
 public:
  // `simulated` may be null (PAYMENT_SIMULATOR=off): the dev checkout is then unavailable.
  Service(Repository& repo, Providers& providers, SimulatedProvider* simulated,
          events::Service& events, core::metrics::Registry& metrics);

  boost::asio::awaitable<Created> create(const core::Principal& caller, CreateRequest request,
                                         core::Actor actor);
  boost::asio::awaitable<std::string> get(const core::Principal& caller, std::string id);
  // {duplicate, processed, paymentId, status}; throws 401 for an unauthenticated webhook (after
  // recording it) and 400/422 for a signed but unusable body (recorded too).
  boost::asio::awaitable<std::string> webhook(WebhookRequest request);
  // The simulated checkout: delivers the signed webhook over HTTP, returns the API's answer.
  boost::asio::awaitable<std::string> simulate(const core::Principal& caller, std::string id,
                                               std::string outcome, core::Actor actor);
  // ORG_ADMIN: claims the payment, asks its provider once, settles. 409 REFUND_IN_PROGRESS for
  // a refund racing another one, ALREADY_REFUNDED / PAYMENT_NOT_REFUNDABLE by state.
  boost::asio::awaitable<std::string> refund(const core::Principal& caller, std::string id,
                                             std::optional<std::string> reason, core::Actor actor);
  // The purge job: deletes up to `limit` rejected webhook rows older than the retention; returns
  // how many.
  boost::asio::awaitable<std::int64_t> purge_rejected_webhooks(std::chrono::hours retention,
                                                               int limit);

 private:
  boost::asio::awaitable<PaymentRow> visible(const core::Principal& caller, std::string id);

  Repository& repo_;
  Providers& providers_;
  SimulatedProvider* simulated_;
  events::Service& events_;
  core::metrics::Family<core::metrics::Counter>& webhooks_;
  core::metrics::Family<core::metrics::Counter>& created_;
  core::metrics::Counter& refunds_;
  core::metrics::Family<core::metrics::Counter>& provider_refunds_;
  core::metrics::Counter& rejected_purged_;
};

}  // namespace ticketd::payments
