#pragma once
// SQL of payments: each state change is one server-side function (migrations 0010, 0013)
// returning a JSON verdict, so the decision and its outbox rows commit together.
#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <optional>
#include <string>

#include "infra/pg/pool.hpp"

namespace ticketd::payments {

struct PaymentRow {
  std::string org_id;
  std::string user_id;
  std::string provider;
  std::string provider_ref;  // empty while PENDING without an intent (never, with our flow)
  std::string status;
  std::int64_t amount_cents = 0;
  std::string currency;
  std::string json;
};

struct NewPayment {
  std::string id;
  std::string user_id;
  std::string reservation_id;
  std::string provider;
  std::string provider_ref;
  std::string checkout_url;
  std::string correlation_id;
};

struct WebhookInput {
  std::string provider;
  std::string provider_event_id;
  std::string provider_ref;
  std::string status;
  std::optional<std::int64_t> amount_cents;
  std::optional<std::string> currency;
  std::string raw_body;
  std::string headers_json;
  std::string correlation_id;
};

// A webhook that failed authentication (or was unusable): kept for the provider's support and
// for forensics, never acted upon.
struct RejectedWebhook {
  std::optional<std::string> provider;
  std::optional<std::string> provider_event_id;
  std::string raw_body;  // a prefix only, for requests whose signature did not verify
  std::int64_t raw_body_bytes = 0;
  std::string headers_json;
  std::string error;
};

struct RefundInput {
  std::string payment_id;
  std::string correlation_id;
  std::string actor_json;
  std::optional<std::string> actor_user_id;
  std::optional<std::string> actor_api_key_id;
  std::string request_id;
  std::optional<std::string> ip;
  std::optional<std::string> reason;
};

class Repository {
 public:
  explicit Repository(infra::pg::Pool& pool) : pool_(pool) {}

  boost::asio::awaitable<boost::json::object> context(std::string user_id,
                                                      std::string reservation_id);
  boost::asio::awaitable<boost::json::object> create(NewPayment p);
  boost::asio::awaitable<std::optional<PaymentRow>> find(std::string id);
  boost::asio::awaitable<boost::json::object> process_webhook(WebhookInput in);
  boost::asio::awaitable<void> record_rejected(RejectedWebhook webhook);
  // Deletes up to `limit` REJECTED webhook rows received more than `older_than_hours` ago;
  // returns how many.
  boost::asio::awaitable<std::int64_t> purge_rejected(std::int64_t older_than_hours, int limit);
  // Claims the payment for one refund (sql/functions/begin_refund.sql): outcome STARTED,
  // IN_PROGRESS, ALREADY_REFUNDED, NOT_REFUNDABLE or NOT_FOUND.
  boost::asio::awaitable<boost::json::object> begin_refund(std::string payment_id,
                                                           std::int64_t stale_after_seconds);
  // Settles a claimed refund: payment, order, tickets, seats, outbox and audit in one call.
  boost::asio::awaitable<boost::json::object> refund(RefundInput in);

 private:
  infra::pg::Pool& pool_;
};

}  // namespace ticketd::payments
