#pragma once
// SQL of payments: each state change is one server-side function (sql/functions/) returning a
// JSON verdict, so the decision and its outbox rows commit together. The statements pick the
// verdict's fields apart in SQL; the service gets typed outcomes (core::outcome_of: a word the
// C++ does not know fails loudly) and the payment's rendered JSON, never a JSON tree to re-read.
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

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

// What payment_context() (before the provider is called) and create_payment() (after) decide
// about paying a reservation.
enum class Checkout { kOk, kCreated, kExisting, kNotFound, kNotActive, kExpired };

struct CheckoutResult {
  Checkout outcome = Checkout::kNotFound;
  std::string reservation_status;  // kNotActive, kExpired
  // kOk: what to charge; kCreated / kExisting: what the payment charges.
  std::int64_t amount_cents = 0;
  std::string currency;
  std::string payment_json;  // kCreated / kExisting: the payment as the API renders it
};

// process_webhook()'s answer: the webhook response body (without the internal reason) and how
// the delivery was counted.
struct WebhookResult {
  bool duplicate = false;
  bool processed = false;
  std::string answer_json;
};

enum class RefundOutcome {
  kStarted,   // begin_refund: the claim is ours, call the provider
  kRefunded,  // refund_payment: settled
  kInProgress,
  kAlreadyRefunded,
  kNotRefundable,
  kNotFound,
};

struct RefundClaim {
  RefundOutcome outcome = RefundOutcome::kNotFound;
  std::string status;        // the payment's status when refused
  std::string provider_ref;  // kStarted: what to refund at the provider
  std::int64_t amount_cents = 0;
  std::string currency;
};

struct RefundResult {
  RefundOutcome outcome = RefundOutcome::kNotFound;
  std::string payment_json;  // kRefunded
  std::string event_id;
  std::vector<std::string> released_seats;
};

class Repository {
 public:
  // `hot_wait` bounds the pool wait of checkout and webhooks (503 past it, see Pool::acquire).
  Repository(infra::pg::Pool& pool, std::chrono::milliseconds hot_wait)
      : pool_(pool), hot_wait_(hot_wait) {}

  // kOk, kExisting, kNotFound, kNotActive or kExpired.
  boost::asio::awaitable<CheckoutResult> context(std::string user_id, std::string reservation_id);
  // kCreated, kExisting, kNotFound, kNotActive or kExpired.
  boost::asio::awaitable<CheckoutResult> create(NewPayment p);
  boost::asio::awaitable<std::optional<PaymentRow>> find(std::string id);
  boost::asio::awaitable<WebhookResult> process_webhook(WebhookInput in);
  boost::asio::awaitable<void> record_rejected(RejectedWebhook webhook);
  // Deletes up to `limit` REJECTED webhook rows received more than `older_than_hours` ago;
  // returns how many.
  boost::asio::awaitable<std::int64_t> purge_rejected(std::int64_t older_than_hours, int limit);
  // Claims the payment for one refund (sql/functions/begin_refund.sql): kStarted, kInProgress,
  // kAlreadyRefunded, kNotRefundable or kNotFound.
  boost::asio::awaitable<RefundClaim> begin_refund(std::string payment_id,
                                                   std::int64_t stale_after_seconds);
  // Settles a claimed refund: payment, order, tickets, seats, outbox and audit in one call.
  // kRefunded, kAlreadyRefunded, kNotRefundable or kNotFound.
  boost::asio::awaitable<RefundResult> refund(RefundInput in);

 private:
  infra::pg::Pool& pool_;
  std::chrono::milliseconds hot_wait_;
};

}  // namespace ticketd::payments
