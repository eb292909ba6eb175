#pragma once
// SQL of tickets, orders, ticket keys and finalization (migration 0010).
#include <boost/asio/awaitable.hpp>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "infra/pg/pool.hpp"

namespace ticketd::tickets {

struct StoredKey {
  std::string key_id;
  std::string public_key_hex;
  std::string sealed_secret_hex;
  std::string created_at;
};

struct Owned {
  std::string user_id;
  std::string org_id;
  std::string json;
};

// Mints `units` ticket ids and codes for an organization and event: [(id, code)].
using Minter =
    std::function<boost::asio::awaitable<std::vector<std::pair<std::string, std::string>>>(
        std::string org_id, std::string event_id, int units)>;

// What finalize_payment_begin() decided for a succeeded payment.
enum class Finalization {
  kIssue,           // tickets and the order were issued
  kRefundRequired,  // the reservation no longer holds what was paid for
  kNoop,            // already finalized, or the payment is not SUCCEEDED
  kMissing,         // no such payment
};

struct FinalizeResult {
  Finalization action = Finalization::kMissing;
  std::string reason;  // kRefundRequired
  // kIssue:
  std::string order_id;
  std::string event_id;
  std::string reservation_id;
  int tickets = 0;
  std::vector<std::string> sold_seats;
};

enum class CheckIn { kCheckedIn, kAlreadyCheckedIn, kWrongEvent, kNotIssued, kNotFound };

struct CheckInResult {
  CheckIn outcome = CheckIn::kNotFound;
  std::string ticket_json;    // kCheckedIn, kAlreadyCheckedIn
  std::string checked_in_at;  // kAlreadyCheckedIn: the first check-in
  std::string status;         // kNotIssued: the ticket's status
};

class Repository {
 public:
  explicit Repository(infra::pg::Pool& pool) : pool_(pool) {}

  boost::asio::awaitable<std::optional<StoredKey>> find_key(std::string org_id);
  // False when the organization does not exist. A concurrent insert wins silently.
  boost::asio::awaitable<bool> insert_key(std::string org_id, StoredKey key);
  // Replaces the sealed secret when it is still `old_sealed_hex` (TICKET_SIGNING_SECRET rotation).
  boost::asio::awaitable<void> reseal_key(std::string org_id, std::string old_sealed_hex,
                                          std::string new_sealed_hex);

  // finalize_payment_begin, then (action ISSUE) the minter, then finalize_payment_issue, in one
  // transaction.
  boost::asio::awaitable<FinalizeResult> finalize(std::string payment_id,
                                                  std::string correlation_id, const Minter& mint);

  boost::asio::awaitable<std::optional<Owned>> find_ticket(std::string id);
  boost::asio::awaitable<std::optional<Owned>> find_order(std::string id);
  boost::asio::awaitable<core::Listing<std::string>> tickets_of_user(std::string user_id,
                                                                     std::int64_t limit,
                                                                     std::int64_t offset);
  boost::asio::awaitable<core::Listing<std::string>> orders_of_user(std::string user_id,
                                                                    std::int64_t limit,
                                                                    std::int64_t offset);
  boost::asio::awaitable<core::Listing<std::string>> tickets_of_event(std::string event_id,
                                                                      std::int64_t limit,
                                                                      std::int64_t offset);
  boost::asio::awaitable<core::Listing<std::string>> orders_of_event(std::string event_id,
                                                                     std::int64_t limit,
                                                                     std::int64_t offset);
  // Counts per seat, reservation, order and ticket status, per ticket type, and revenue (JSON);
  // empty when the event does not exist.
  boost::asio::awaitable<std::string> event_stats(std::string event_id);
  // check_in_ticket (migration 0010): updates only when signature_ok.
  boost::asio::awaitable<CheckInResult> check_in(std::string ticket_id, std::string code,
                                                 std::string event_id, bool signature_ok);

 private:
  boost::asio::awaitable<core::Listing<std::string>> page(const infra::pg::Statement& list,
                                                          const infra::pg::Statement& count,
                                                          std::string key, std::int64_t limit,
                                                          std::int64_t offset);
  infra::pg::Pool& pool_;
};

}  // namespace ticketd::tickets
