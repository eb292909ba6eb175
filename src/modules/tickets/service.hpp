#pragma once
// Orders and tickets: issued by finalize() — the payment.succeeded consumer's
// step — with codes signed by the organization's Ed25519 key; read by owners and staff; checked
// in once by staff. Organization keys are created on first use and kept sealed in the database
// (see migration 0010); their public halves are published for offline scanners.
#include <boost/asio/awaitable.hpp>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "core/metrics.hpp"
#include "core/principal.hpp"
#include "modules/events/service.hpp"
#include "modules/tickets/codes.hpp"
#include "modules/tickets/repository.hpp"

namespace ticketd::tickets {

struct Finalized {
  Finalization action = Finalization::kMissing;
  std::string order_id;
  int tickets = 0;
};

struct PublicKey {
  std::string org_id;
  std::string key_id;
  std::string public_key;  // raw 32 bytes
  std::string created_at;
};

class Service {
 public:
  // `signing_secret` seals organization keys at rest (TICKET_SIGNING_SECRET); a key sealed with
  // one of `previous_secrets` is opened with it and sealed again with `signing_secret`.
  Service(Repository& repo, events::Service& events, const std::string& signing_secret,
          const std::vector<std::string>& previous_secrets, core::metrics::Registry& metrics);

  // Idempotent: a redelivered payment is a no-op. Throws on database failure (the consumer
  // retries). Announces sold seats after commit.
  boost::asio::awaitable<Finalized> finalize(std::string payment_id, std::string correlation_id);

  boost::asio::awaitable<std::string> ticket(const core::Principal& caller, std::string id);
  boost::asio::awaitable<std::string> order(const core::Principal& caller, std::string id);
  boost::asio::awaitable<core::Listing<std::string>> my_tickets(const core::Principal& caller,
                                                                std::int64_t limit,
                                                                std::int64_t offset);
  boost::asio::awaitable<core::Listing<std::string>> my_orders(const core::Principal& caller,
                                                               std::int64_t limit,
                                                               std::int64_t offset);
  boost::asio::awaitable<core::Listing<std::string>> event_tickets(const core::Principal& caller,
                                                                   std::string event_id,
                                                                   std::int64_t limit,
                                                                   std::int64_t offset);
  boost::asio::awaitable<core::Listing<std::string>> event_orders(const core::Principal& caller,
                                                                  std::string event_id,
                                                                  std::int64_t limit,
                                                                  std::int64_t offset);
  // Sales figures of an event for its organization's members.
  boost::asio::awaitable<std::string> event_stats(const core::Principal& caller,
                                                  std::string event_id);
  // The ticket JSON of the first scan; throws 404 unknown/forged code, 409 ALREADY_CHECKED_IN,
  // 422 another event's or a refunded ticket.
  boost::asio::awaitable<std::string> check_in(const core::Principal& caller, std::string event_id,
                                               std::string code);
  // The organization's public key (created on first use); std::nullopt: no such organization.
  boost::asio::awaitable<std::optional<PublicKey>> public_key(std::string org_id);

 private:
  boost::asio::awaitable<std::shared_ptr<const KeyPair>> key_of(std::string org_id);

  Repository& repo_;
  events::Service& events_;
  std::vector<std::string> seal_keys_;  // 32 bytes each, from the current secret, then previous
  std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<const KeyPair>> keys_;
  core::metrics::Family<core::metrics::Counter>& finalized_;
  core::metrics::Family<core::metrics::Counter>& check_ins_;
  core::metrics::Counter& issued_;
};

}  // namespace ticketd::tickets
