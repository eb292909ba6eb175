#pragma once
// SQL of payments: each state change is one server-side function (migration 0010) returning a
// JSON verdict, so the decision and its outbox rows commit together.
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
  // A webhook that failed authentication or validation: recorded, never acted upon.
  boost::asio::awaitable<void> record_rejected(std::optional<std::string> provider,
                                               std::optional<std::string> provider_event_id,
                                               std::string raw_body, std::string headers_json,
                                               std::string error);
  boost::asio::awaitable<boost::json::object> refund(RefundInput in);

 private:
  infra::pg::Pool& pool_;
};

}  // namespace ticketd::payments
