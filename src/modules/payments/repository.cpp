#include "modules/payments/repository.hpp"

#include <boost/json/parse.hpp>

namespace ticketd::payments {

namespace asio = boost::asio;
using infra::pg::Params;
using infra::pg::Statement;

namespace {

constexpr Statement kContext{"payment_context", "SELECT payment_context($1, $2)::text"};
constexpr Statement kCreate{"payment_create",
                            "SELECT create_payment($1, $2, $3, $4, $5, $6, $7)::text"};
constexpr Statement kFind{"payment_find", R"sql(
SELECT org_id, user_id, provider, coalesce(provider_ref, ''), status, amount_cents, currency,
       payment_json(id)::text
FROM payments WHERE id = $1)sql"};
constexpr Statement kWebhook{
    "payment_webhook", "SELECT process_webhook($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9)::text"};
constexpr Statement kRejected{"payment_webhook_rejected", R"sql(
INSERT INTO payment_webhook_events (provider, provider_event_id, signature_valid, status,
                                    raw_body, raw_body_bytes, headers, error)
VALUES ($1, $2, false, 'REJECTED', $3, $4, $5::jsonb, $6))sql"};
constexpr Statement kPurgeRejected{"payment_webhook_purge_rejected", R"sql(
DELETE FROM payment_webhook_events
 WHERE id IN (SELECT id FROM payment_webhook_events
               WHERE status = 'REJECTED' AND received_at < now() - $1::bigint * interval '1 hour'
               LIMIT $2))sql"};
constexpr Statement kBeginRefund{"payment_begin_refund",
                                 "SELECT begin_refund($1, make_interval(secs => $2))::text"};
constexpr Statement kRefund{
    "payment_refund", "SELECT refund_payment($1, $2, $3::jsonb, $4, $5, $6, $7::inet, $8)::text"};

boost::json::object object_of(const infra::pg::Result& r) {
  return boost::json::parse(r.text(0, 0)).as_object();
}

}  // namespace

asio::awaitable<boost::json::object> Repository::context(std::string user_id,
                                                         std::string reservation_id) {
  Params params(user_id, reservation_id);
  auto r = co_await pool_.query(kContext, params);
  co_return object_of(r);
}

asio::awaitable<boost::json::object> Repository::create(NewPayment p) {
  Params params(p.id, p.user_id, p.reservation_id, p.provider, p.provider_ref, p.checkout_url,
                p.correlation_id);
  auto r = co_await pool_.query(kCreate, params);
  co_return object_of(r);
}

asio::awaitable<std::optional<PaymentRow>> Repository::find(std::string id) {
  Params params(id);
  auto r = co_await pool_.query(kFind, params);
  if (r.empty()) co_return std::nullopt;
  co_return PaymentRow{r.string(0, 0), r.string(0, 1), r.string(0, 2), r.string(0, 3),
                       r.string(0, 4), r.int64(0, 5),  r.string(0, 6), r.string(0, 7)};
}

asio::awaitable<boost::json::object> Repository::process_webhook(WebhookInput in) {
  Params params(in.provider, in.provider_event_id, in.provider_ref, in.status, in.amount_cents,
                in.currency, in.raw_body, in.headers_json, in.correlation_id);
  auto r = co_await pool_.query(kWebhook, params);
  co_return object_of(r);
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

asio::awaitable<boost::json::object> Repository::begin_refund(std::string payment_id,
                                                              std::int64_t stale_after_seconds) {
  Params params(payment_id, stale_after_seconds);
  auto r = co_await pool_.query(kBeginRefund, params);
  co_return object_of(r);
}

asio::awaitable<boost::json::object> Repository::refund(RefundInput in) {
  Params params(in.payment_id, in.correlation_id, in.actor_json, in.actor_user_id,
                in.actor_api_key_id, in.request_id, in.ip, in.reason);
  auto r = co_await pool_.query(kRefund, params);
  co_return object_of(r);
}

}  // namespace ticketd::payments
