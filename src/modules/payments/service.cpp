#include "modules/payments/service.hpp"

#include <algorithm>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value_to.hpp>
#include <chrono>

#include "core/crypto.hpp"
#include "core/errors.hpp"
#include "core/ids.hpp"
#include "core/log.hpp"
#include "core/time.hpp"
#include "core/validation.hpp"
#include "infra/outbox/outbox.hpp"
#include "modules/iam/policy.hpp"

namespace ticketd::payments {

namespace asio = boost::asio;
namespace json = boost::json;
using asio::experimental::awaitable_operators::operator||;
using core::ApiError;
using core::ErrorKind;
using iam::Decision;
using iam::OrgAction;

namespace {

bool is_valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t extra = 0;
    if (c == 0) return false;
    if (c < 0x80) {
      extra = 0;
    } else if ((c >> 5) == 0x6) {
      extra = 1;
    } else if ((c >> 4) == 0xe) {
      extra = 2;
    } else if ((c >> 3) == 0x1e) {
      extra = 3;
    } else {
      return false;
    }
    if (i + extra >= s.size() && extra > 0) return false;
    for (std::size_t k = 1; k <= extra; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) return false;
    }
    i += extra + 1;
  }
  return true;
}

// PostgreSQL text cannot hold NUL or invalid UTF-8: such a body is stored base64url-encoded
// behind a prefix saying so, still recoverable byte for byte.
std::string storable(std::string_view body) {
  if (is_valid_utf8(body)) return std::string(body);
  return "base64url:" + core::base64url_encode(body);
}

// What is kept of the body of a webhook whose signature did not verify: enough to see what was
// sent, not enough for anyone to fill the database with unauthenticated megabytes.
constexpr std::size_t kRejectedBodyPrefix = 2048;

// The longest prefix of `body` of at most `max` bytes that does not end inside a UTF-8 sequence.
std::string_view utf8_prefix(std::string_view body, std::size_t max) {
  if (body.size() <= max) return body;
  std::size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(body[n]) & 0xc0) == 0x80) --n;
  return body.substr(0, n);
}

// A provider refund call is given up after kRefundCallTimeout; a claim whose caller did not
// settle (crashed, failed, timed out) is taken over after kRefundClaimSeconds, well past any
// call that might still be running: the provider is never asked twice at once.
constexpr auto kRefundCallTimeout = std::chrono::seconds(20);
constexpr std::int64_t kRefundClaimSeconds = 60;

// The refusals of paying a reservation: 404 for one that is not the caller's, 409 for one no
// longer payable. kOk, kCreated and kExisting return.
void refuse_checkout(const CheckoutResult& r) {
  switch (r.outcome) {
    case Checkout::kOk:
    case Checkout::kCreated:
    case Checkout::kExisting:
      return;
    case Checkout::kNotFound:
      throw core::not_found("Reservation");
    case Checkout::kNotActive:
      throw ApiError(ErrorKind::kConflict, "RESERVATION_NOT_ACTIVE",
                     "The reservation is no longer active",
                     {{"RESERVATION_NOT_ACTIVE", "reservationId",
                       "the reservation is " + r.reservation_status}});
    case Checkout::kExpired:
      throw ApiError(ErrorKind::kConflict, "RESERVATION_EXPIRED", "The reservation has expired",
                     {{"RESERVATION_EXPIRED", "reservationId", "make a new reservation"}});
  }
}

// 422 when the request names an amount or currency other than the payment's (they must match
// when given, also when the answer is the reservation's existing payment).
// 404 or 409 for a refund that cannot go ahead; `status` is the payment's, when known.
[[noreturn]] void refuse_refund(RefundOutcome outcome, const std::string& status) {
  if (outcome == RefundOutcome::kNotFound) throw core::not_found("Payment");
  const char* code = outcome == RefundOutcome::kInProgress        ? "REFUND_IN_PROGRESS"
                     : outcome == RefundOutcome::kAlreadyRefunded ? "ALREADY_REFUNDED"
                                                                  : "PAYMENT_NOT_REFUNDABLE";
  throw ApiError(ErrorKind::kConflict, code,
                 outcome == RefundOutcome::kInProgress ? "A refund of this payment is in progress"
                                                       : "The payment cannot be refunded",
                 {{code, "paymentId",
                   status.empty() ? "the payment cannot be refunded in its state"
                                  : "the payment is " + status}});
}

void check_amount(const CreateRequest& request, std::int64_t amount_cents,
                  const std::string& currency) {
  std::vector<core::FieldError> mismatch;
  if (request.amount_cents && *request.amount_cents != amount_cents) {
    mismatch.push_back({"AMOUNT_MISMATCH", "amountCents",
                        "the reservation's total is " + std::to_string(amount_cents)});
  }
  if (request.currency && *request.currency != currency) {
    mismatch.push_back(
        {"CURRENCY_MISMATCH", "currency", "the reservation's currency is " + currency});
  }
  if (!mismatch.empty()) {
    std::string code = mismatch.front().code;  // before the vector is moved into the error
    throw ApiError(ErrorKind::kUnprocessable, std::move(code),
                   "Amount or currency does not match the reservation", std::move(mismatch));
  }
}

const char* webhook_reject_code(SignatureVerdict v) {
  switch (v) {
    case SignatureVerdict::kMissing:
      return "SIGNATURE_MISSING";
    case SignatureVerdict::kStale:
      return "SIGNATURE_EXPIRED";
    default:
      return "INVALID_SIGNATURE";
  }
}

// The fields of a verified webhook body {provider, providerEventId, providerRef, status,
// amountCents?, currency?, payload?}; throws 400/422 listing every problem.
WebhookInput read_webhook(const json::value& body) {
  core::ObjectReader r(body);
  WebhookInput in;
  auto provider = r.string("provider", true);
  auto event_id = r.string("providerEventId", true);
  auto ref = r.string("providerRef", true);
  auto status = r.string("status", true);
  in.amount_cents = r.integer("amountCents", false);
  in.currency = r.string("currency", false);
  r.allow("payload");  // free-form, kept in the stored raw body
  r.length("providerEventId", event_id, 1, 200, "INVALID_EVENT_ID");
  r.length("providerRef", ref, 1, 200, "INVALID_PROVIDER_REF");
  if (status && *status != "SUCCEEDED" && *status != "FAILED") {
    r.invalid("status", "INVALID_STATUS", "status must be SUCCEEDED or FAILED");
  }
  if (in.amount_cents && *in.amount_cents < 0) {
    r.invalid("amountCents", "INVALID_AMOUNT", "amountCents must not be negative");
  }
  if (in.currency && !core::is_currency_code(*in.currency)) {
    r.invalid("currency", "INVALID_CURRENCY", "currency must be a 3-letter ISO code");
  }
  r.finish();
  in.provider = *provider;
  in.provider_event_id = *event_id;
  in.provider_ref = *ref;
  in.status = *status;
  return in;
}

}  // namespace

Service::Service(Repository& repo, Providers& providers, SimulatedProvider* simulated,
                 events::Service& events, core::metrics::Registry& metrics)
    : repo_(repo),
      providers_(providers),
      simulated_(simulated),
      events_(events),
      webhooks_(metrics.counter("ticketd_payment_webhooks_total",
                                "Payment webhooks by result (processed, ignored, duplicate, "
                                "rejected, invalid)",
                                {"result"})),
      created_(metrics.counter("ticketd_payments_created_total",
                               "POST /payments by result (created, existing)", {"result"})),
      refunds_(metrics.counter("ticketd_payment_refunds_total", "Manual refunds completed").get()),
      provider_refunds_(metrics.counter("ticketd_payment_provider_refunds_total",
                                        "Refunds asked of a payment provider, by provider",
                                        {"provider"})),
      rejected_purged_(metrics
                           .counter("ticketd_payment_webhooks_rejected_purged_total",
                                    "Rejected webhook rows deleted after "
                                    "PAYMENT_WEBHOOK_REJECTED_RETENTION_HOURS")
                           .get()) {}

asio::awaitable<Created> Service::create(const core::Principal& caller, CreateRequest request,
                                         core::Actor actor) {
  if (caller.user_id.empty()) {
    throw ApiError(ErrorKind::kForbidden, "FORBIDDEN", "Payments are made by users");
  }
  Provider* provider = providers_.find(request.provider);
  if (provider == nullptr) {
    throw ApiError(ErrorKind::kUnprocessable, "UNKNOWN_PROVIDER", "Unknown payment provider",
                   {{"UNKNOWN_PROVIDER", "provider", "no payment provider by that name"}});
  }
  std::string user_id = caller.user_id;
  std::string reservation_id = request.reservation_id;
  CheckoutResult ctx = co_await repo_.context(user_id, reservation_id);
  refuse_checkout(ctx);
  if (ctx.outcome == Checkout::kExisting) {
    // The existing payment is the answer only if it is what the caller asked to pay.
    check_amount(request, ctx.amount_cents, ctx.currency);
    created_.with({"existing"}).inc();
    co_return Created{false, std::move(ctx.payment_json)};
  }
  IntentRequest intent_request;
  intent_request.payment_id = core::new_uuid();
  intent_request.reservation_id = request.reservation_id;
  intent_request.amount_cents = ctx.amount_cents;
  intent_request.currency = ctx.currency;
  check_amount(request, intent_request.amount_cents, intent_request.currency);
  const std::string payment_id = intent_request.payment_id;
  auto intent = co_await provider->create_intent(std::move(intent_request));
  NewPayment p;
  p.id = payment_id;
  p.user_id = caller.user_id;
  p.reservation_id = request.reservation_id;
  p.provider = std::string(provider->name());
  p.provider_ref = std::move(intent.provider_ref);
  p.checkout_url = std::move(intent.checkout_url);
  p.correlation_id = actor.request_id;
  CheckoutResult result = co_await repo_.create(std::move(p));
  refuse_checkout(result);
  const bool created = result.outcome == Checkout::kCreated;
  // Another request paid for the reservation meanwhile: its payment must be what we asked.
  if (!created) check_amount(request, result.amount_cents, result.currency);
  created_.with({created ? "created" : "existing"}).inc();
  if (created) {
    core::log::info("payment created", {{"paymentId", payment_id},
                                        {"reservationId", request.reservation_id},
                                        {"requestId", actor.request_id}});
  }
  co_return Created{created, std::move(result.payment_json)};
}

asio::awaitable<PaymentRow> Service::visible(const core::Principal& caller, std::string id) {
  auto found = co_await repo_.find(std::move(id));
  if (!found) throw core::not_found("Payment");
  if (iam::decide_owned(caller, found->user_id, found->org_id, OrgAction::kRead) !=
      Decision::kAllow) {
    throw core::not_found("Payment");
  }
  co_return std::move(*found);
}

asio::awaitable<std::string> Service::get(const core::Principal& caller, std::string id) {
  auto found = co_await visible(caller, std::move(id));
  co_return std::move(found.json);
}

asio::awaitable<std::string> Service::webhook(WebhookRequest request) {
  // Which provider's key applies is named by the body; nothing else in it is trusted until
  // that provider verified the signature over the exact raw bytes.
  std::optional<std::string> provider_name;
  std::optional<std::string> event_id;
  std::optional<json::value> body;
  {
    boost::system::error_code ec;
    auto parsed = json::parse(request.raw_body, ec);
    if (!ec) {
      body = std::move(parsed);
      if (const auto* o = body->if_object()) {
        if (const auto* p = o->if_contains("provider"); p != nullptr && p->is_string()) {
          provider_name = std::string(p->as_string().subview(0, 64));
        }
        // Unauthenticated text, kept with a rejected request: never a control character or a
        // cut UTF-8 sequence that would stop the record from being written.
        if (const auto* e = o->if_contains("providerEventId"); e != nullptr && e->is_string()) {
          const std::string_view id = utf8_prefix(e->as_string(), 200);
          if (core::find_control_character(id, core::Chars::kLine) == std::string_view::npos &&
              is_valid_utf8(id)) {
            event_id = std::string(id);
          }
        }
      }
    }
  }
  Provider* provider = provider_name ? providers_.find(*provider_name) : nullptr;
  const auto verdict =
      provider == nullptr
          ? SignatureVerdict::kMismatch
          : provider->verify_webhook(request.signature, request.raw_body, core::unix_seconds());
  if (verdict != SignatureVerdict::kValid) {
    std::string error = provider == nullptr ? std::string("unknown or missing provider")
                                            : std::string(describe(verdict));
    RejectedWebhook rejected;
    rejected.provider = provider != nullptr ? provider_name : std::nullopt;
    rejected.provider_event_id = event_id;
    rejected.raw_body = storable(utf8_prefix(request.raw_body, kRejectedBodyPrefix));
    rejected.raw_body_bytes = static_cast<std::int64_t>(request.raw_body.size());
    rejected.headers_json = request.headers_json;
    rejected.error = error;
    co_await repo_.record_rejected(std::move(rejected));
    webhooks_.with({"rejected"}).inc();
    core::log::warn("webhook rejected", {{"reason", error}, {"requestId", request.correlation_id}});
    throw ApiError(ErrorKind::kUnauthenticated, webhook_reject_code(verdict),
                   "Webhook signature invalid",
                   {{webhook_reject_code(verdict), "X-Webhook-Signature", error}});
  }
  // Authenticated but unusable bodies are kept for the provider's support, then refused.
  WebhookInput in;
  std::optional<ApiError> unusable;
  try {
    if (!body) {
      throw ApiError(ErrorKind::kInvalid, "INVALID_JSON", "Webhook body is not valid JSON");
    }
    in = read_webhook(*body);
  } catch (const ApiError& e) {
    unusable = e;
  }
  if (unusable) {
    webhooks_.with({"invalid"}).inc();
    // Signed by the provider: kept whole (bounded by the body limit) for its support.
    RejectedWebhook rejected;
    rejected.provider = provider_name;
    rejected.provider_event_id = event_id;
    rejected.raw_body = storable(request.raw_body);
    rejected.raw_body_bytes = static_cast<std::int64_t>(request.raw_body.size());
    rejected.headers_json = request.headers_json;
    rejected.error = unusable->what();
    co_await repo_.record_rejected(std::move(rejected));
    throw *unusable;
  }
  in.raw_body = storable(request.raw_body);
  in.headers_json = request.headers_json;
  in.correlation_id = request.correlation_id;
  WebhookResult result = co_await repo_.process_webhook(std::move(in));
  webhooks_.with({result.duplicate   ? "duplicate"
                  : result.processed ? "processed"
                                     : "ignored"})
      .inc();
  co_return std::move(result.answer_json);
}

asio::awaitable<std::string> Service::simulate(const core::Principal& caller, std::string id,
                                               std::string outcome, core::Actor actor) {
  if (simulated_ == nullptr) {
    throw core::not_found("Route");
  }
  auto found = co_await visible(caller, std::move(id));
  // Completing a checkout pays: only the payer does it, never staff or a read-only member who
  // can merely see the payment.
  if (caller.user_id.empty() || found.user_id != caller.user_id) {
    throw ApiError(ErrorKind::kForbidden, "FORBIDDEN", "Only the payer completes a checkout",
                   {{"FORBIDDEN", "paymentId", "the payment belongs to another user"}});
  }
  if (found.provider != simulated_->name()) {
    throw ApiError(ErrorKind::kUnprocessable, "NOT_SIMULATED",
                   "Only payments of the simulated provider can be completed here",
                   {{"NOT_SIMULATED", "paymentId", "the payment's provider is " + found.provider}});
  }
  Delivery delivery;
  try {
    delivery = co_await simulated_->complete(found.provider_ref, outcome, found.amount_cents,
                                             found.currency, actor.request_id);
  } catch (const std::exception& e) {
    core::log::warn("simulated webhook not delivered",
                    {{"error", e.what()}, {"requestId", actor.request_id}});
    throw core::InfraError(ErrorKind::kUnavailable, "WEBHOOK_DELIVERY_FAILED", e.what());
  }
  boost::system::error_code ec;
  auto answer = json::parse(delivery.body, ec);
  if (ec || !answer.is_object() || delivery.status != 200) {
    throw core::InfraError(ErrorKind::kUnavailable, "WEBHOOK_DELIVERY_FAILED",
                           "webhook answered " + std::to_string(delivery.status));
  }
  const auto* data = answer.as_object().if_contains("data");
  co_return data != nullptr ? json::serialize(*data) : std::string("null");
}

asio::awaitable<std::string> Service::refund(const core::Principal& caller, std::string id,
                                             std::optional<std::string> reason, core::Actor actor) {
  auto found = co_await repo_.find(id);
  if (!found) throw core::not_found("Payment");
  iam::authorize(caller, found->org_id, OrgAction::kManage, "Payment");
  Provider* provider = providers_.find(found->provider);
  if (provider == nullptr) {
    throw core::InfraError(ErrorKind::kUnavailable, "PROVIDER_UNAVAILABLE",
                           "provider " + found->provider + " is not configured");
  }
  // One caller at a time reaches the provider: the claim is taken under the payment's row lock,
  // so a concurrent refund sees it and gets 409 instead of returning the money a second time.
  RefundClaim claim = co_await repo_.begin_refund(id, kRefundClaimSeconds);
  if (claim.outcome != RefundOutcome::kStarted) refuse_refund(claim.outcome, claim.status);
  // The provider returns the money first; a crash before the settlement leaves a claim that
  // lapses after kRefundClaimSeconds, and the next refund call completes it (providers treat a
  // repeated refund of one charge as one).
  std::string ref = std::move(claim.provider_ref);
  std::string currency = std::move(claim.currency);
  const std::int64_t amount = claim.amount_cents;
  provider_refunds_.with({provider->name()}).inc();
  // Named, not temporaries inside co_await (GCC 12; README).
  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer deadline(executor);
  deadline.expires_after(kRefundCallTimeout);
  auto call = provider->refund(std::move(ref), amount, std::move(currency));
  auto timeout = deadline.async_wait(asio::use_awaitable);
  // A failure or a timeout keeps the claim: the provider may have refunded even so, and the
  // claim lapsing is what allows the next attempt (which the provider treats as the same one).
  const auto answered = co_await (std::move(call) || std::move(timeout));
  if (answered.index() == 1) {
    throw core::InfraError(ErrorKind::kUnavailable, "PROVIDER_TIMEOUT",
                           "provider " + found->provider + " did not answer the refund in time");
  }
  RefundInput in;
  in.payment_id = id;
  in.correlation_id = actor.request_id;
  in.actor_json = infra::outbox::actor_json_text(actor);
  if (!actor.user_id.empty()) in.actor_user_id = actor.user_id;
  if (!actor.api_key_id.empty()) in.actor_api_key_id = actor.api_key_id;
  in.request_id = actor.request_id;
  if (!actor.ip.empty()) in.ip = actor.ip;
  in.reason = std::move(reason);
  RefundResult result = co_await repo_.refund(std::move(in));
  if (result.outcome != RefundOutcome::kRefunded) refuse_refund(result.outcome, "");
  refunds_.inc();
  core::log::info("payment refunded",
                  {{"paymentId", id}, {"orgId", found->org_id}, {"requestId", actor.request_id}});
  if (!result.released_seats.empty()) {
    std::string seats_json = events::Service::seat_statuses(result.released_seats, "AVAILABLE");
    std::string type = "payment.refunded";
    std::string none;
    co_await events_.seats_changed(std::move(result.event_id), std::move(type), std::move(none),
                                   std::move(seats_json));
  }
  co_return std::move(result.payment_json);
}

asio::awaitable<std::int64_t> Service::purge_rejected_webhooks(std::chrono::hours retention,
                                                               int limit) {
  const auto n = co_await repo_.purge_rejected(retention.count(), limit);
  rejected_purged_.inc(static_cast<double>(n));
  co_return n;
}

}  // namespace ticketd::payments
