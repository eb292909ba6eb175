#include "modules/payments/repository.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value_to.hpp>

#include "core/outcome.hpp"

namespace ticketd::payments {

namespace asio = boost::asio;
using infra::pg::Params;
using infra::pg::Statement;

namespace {

constexpr core::OutcomeTable<Checkout, 6> kCheckoutOutcomes{{{"OK", Checkout::kOk},
                                                             {"CREATED", Checkout::kCreated},
                                                             {"EXISTING", Checkout::kExisting},
                                                             {"NOT_FOUND", Checkout::kNotFound},
                                                             {"NOT_ACTIVE", Checkout::kNotActive},
                                                             {"EXPIRED", Checkout::kExpired}}};
constexpr core::OutcomeTable<RefundOutcome, 6> kRefundOutcomes{
    {{"STARTED", RefundOutcome::kStarted},
     {"REFUNDED", RefundOutcome::kRefunded},
     {"IN_PROGRESS", RefundOutcome::kInProgress},
     {"ALREADY_REFUNDED", RefundOutcome::kAlreadyRefunded},
     {"NOT_REFUNDABLE", RefundOutcome::kNotRefundable},
     {"NOT_FOUND", RefundOutcome::kNotFound}}};

// payment_context() and create_payment() answer in one shape: outcome, the reservation's
// status, the amount (the reservation's for OK, the payment's otherwise) and the payment.
#define TICKETD_CHECKOUT_COLUMNS                                             \
  "v->>'outcome', coalesce(v->>'status', ''), "                              \
  "coalesce(v->'payment'->>'amountCents', v->>'amountCents', '0')::bigint, " \
  "coalesce(v->'payment'->>'currency', v->>'currency', ''), coalesce((v->'payment')::text, '')"
constexpr Statement kContext{"payment_context",
                             "SELECT " TICKETD_CHECKOUT_COLUMNS " FROM payment_context($1, $2) v"};
constexpr Statement kCreate{"payment_create", "SELECT " TICKETD_CHECKOUT_COLUMNS
                                              " FROM create_payment($1, $2, $3, $4, $5, $6, $7) v"};
#undef TICKETD_CHECKOUT_COLUMNS
constexpr Statement kFind{"payment_find", R"sql(
SELECT org_id, user_id, provider, coalesce(provider_ref, ''), status, amount_cents, currency,
       payment_json(id)::text
FROM payments WHERE id = $1)sql"};
// The answer leaves out `reason`, which is for the webhook log only.
constexpr Statement kWebhook{"payment_webhook", R"sql(
SELECT (v->>'duplicate')::boolean, (v->>'processed')::boolean, (v - 'reason')::text
FROM process_webhook($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9) v)sql"};
constexpr Statement kRejected{"payment_webhook_rejected", R"sql(
INSERT INTO payment_webhook_events (provider, provider_event_id, signature_valid, status,
                                    raw_body, raw_body_bytes, headers, error)
VALUES ($1, $2, false, 'REJECTED', $3, $4, $5::jsonb, $6))sql"};
constexpr Statement kPurgeRejected{"payment_webhook_purge_rejected", R"sql(
DELETE FROM payment_webhook_events
 WHERE id IN (SELECT id FROM payment_webhook_events
               WHERE status = 'REJECTED' AND received_at < now() - $1::bigint * interval '1 hour'
               LIMIT $2))sql"};
constexpr Statement kBeginRefund{"payment_begin_refund", R"sql(
SELECT v->>'outcome', coalesce(v->>'status', ''), coalesce(v->>'providerRef', ''),
       coalesce((v->>'amountCents')::bigint, 0), coalesce(v->>'currency', '')
FROM begin_refund($1, make_interval(secs => $2)) v)sql"};
constexpr Statement kRefund{"payment_refund", R"sql(
SELECT v->>'outcome', coalesce((v->'payment')::text, ''), coalesce(v->>'eventId', ''),
       coalesce(v->'seats', '[]')::text
FROM refund_payment($1, $2, $3::jsonb, $4, $5, $6, $7::inet, $8) v)sql"};

CheckoutResult checkout_of(const infra::pg::Result& r, std::string_view function) {
  CheckoutResult out;
  out.outcome = core::outcome_of(r.text(0, 0), kCheckoutOutcomes, function);
  out.reservation_status = r.string(0, 1);
  out.amount_cents = r.int64(0, 2);
  out.currency = r.string(0, 3);
  out.payment_json = r.string(0, 4);
  return out;
}

}  // namespace

asio::awaitable<CheckoutResult> Repository::context(std::string user_id,
                                                    std::string reservation_id) {
  Params params(user_id, reservation_id);
  auto r = co_await pool_.query(kContext, params, hot_wait_);
  co_return checkout_of(r, "payment_context()");
}

asio::awaitable<CheckoutResult> Repository::create(NewPayment p) {
  Params params(p.id, p.user_id, p.reservation_id, p.provider, p.provider_ref, p.checkout_url,
                p.correlation_id);
  auto r = co_await pool_.query(kCreate, params, hot_wait_);
  co_return checkout_of(r, "create_payment()");
}

asio::awaitable<std::optional<PaymentRow>> Repository::find(std::string id) {
  Params params(id);
  auto r = co_await pool_.query(kFind, params);
  if (r.empty()) co_return std::nullopt;
  co_return PaymentRow{r.string(0, 0), r.string(0, 1), r.string(0, 2), r.string(0, 3),
                       r.string(0, 4), r.int64(0, 5),  r.string(0, 6), r.string(0, 7)};
}

asio::awaitable<WebhookResult> Repository::process_webhook(WebhookInput in) {
  Params params(in.provider, in.provider_event_id, in.provider_ref, in.status, in.amount_cents,
                in.currency, in.raw_body, in.headers_json, in.correlation_id);
  auto r = co_await pool_.query(kWebhook, params, hot_wait_);
  co_return WebhookResult{r.boolean(0, 0), r.boolean(0, 1), r.string(0, 2)};
}

asio::awaitable<void> Repository::record_rejected(RejectedWebhook w) {
  Params params(w.provider, w.provider_event_id, w.raw_body, w.raw_body_bytes, w.headers_json,
                w.error);
  co_await pool_.query(kRejected, params);
}

asio::awaitable<std::int64_t> Repository::purge_rejected(std::int64_t older_than_hours, int limit) {
  Params params(older_than_hours, limit);
  auto r = co_await pool_.query(kPurgeRejected, params);
  co_return r.affected();
}

asio::awaitable<RefundClaim> Repository::begin_refund(std::string payment_id,
                                                      std::int64_t stale_after_seconds) {
  Params params(payment_id, stale_after_seconds);
  auto r = co_await pool_.query(kBeginRefund, params);
  RefundClaim out;
  out.outcome = core::outcome_of(r.text(0, 0), kRefundOutcomes, "begin_refund()");
  out.status = r.string(0, 1);
  out.provider_ref = r.string(0, 2);
  out.amount_cents = r.int64(0, 3);
  out.currency = r.string(0, 4);
  co_return out;
}

asio::awaitable<RefundResult> Repository::refund(RefundInput in) {
  Params params(in.payment_id, in.correlation_id, in.actor_json, in.actor_user_id,
                in.actor_api_key_id, in.request_id, in.ip, in.reason);
  auto r = co_await pool_.query(kRefund, params);
  RefundResult out;
  out.outcome = core::outcome_of(r.text(0, 0), kRefundOutcomes, "refund_payment()");
  out.payment_json = r.string(0, 1);
  out.event_id = r.string(0, 2);
  out.released_seats =
      boost::json::value_to<std::vector<std::string>>(boost::json::parse(r.text(0, 3)));
  co_return out;
}

}  // namespace ticketd::payments
