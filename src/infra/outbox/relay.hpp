#pragma once
// The publisher's side of the outbox table (migration 0004, "Publisher protocol"): claiming due
// rows under a lease, settling them after the broker answered, and the cheap backlog figures.
// Every state change is one conditional statement; each checks that the caller still holds the
// lease, so a publisher that stalled past its lease cannot overwrite what another one did.
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "infra/pg/pool.hpp"

namespace ticketd::infra::outbox {

// One claimed row, ready to produce.
struct ClaimedRow {
  std::string id;  // also the envelope's eventId and the x-event-id header
  std::int64_t seq = 0;
  std::string topic;
  std::string key;
  std::string payload;                 // the stored Kafka value, sent as is
  std::optional<std::string> headers;  // extra headers: a JSON object, or nothing
  std::optional<std::string> correlation_id;
  std::string event_type;
  int attempts = 0;  // failed attempts before this one
};

// A row the broker acknowledged and that is now SENT.
struct SentRow {
  std::string id;
  std::string topic;
  double age_seconds = 0;  // created_at → marked SENT, database clock
};

// A row whose delivery failed, with when to try again.
struct FailedDelivery {
  std::string id;
  std::chrono::milliseconds retry_in{0};
  std::string error;
};

// Where a failed row ended up.
struct SettledFailure {
  std::string id;
  std::string topic;
  bool dead = false;  // FAILED for good (max attempts reached); otherwise PENDING again
  int attempts = 0;
};

struct Backlog {
  std::int64_t pending = 0;       // PENDING rows (counted up to the cap)
  double oldest_age_seconds = 0;  // now − created_at of the oldest PENDING row seen; 0 if none
};

class Relay {
 public:
  explicit Relay(pg::Pool& pool) : pool_(pool) {}

  // Leases up to `limit` due PENDING rows (next_attempt_at reached, no live lease) to `owner`
  // for `lease`, skipping rows other publishers are claiming at this moment (SKIP LOCKED).
  // Returns them in outbox order (seq). Throws DbError / InfraError when the database fails.
  boost::asio::awaitable<std::vector<ClaimedRow>> claim(std::string owner,
                                                        std::chrono::milliseconds lease, int limit);

  // Extends the lease of those of `ids` still leased by `owner` to now() + `lease` (a batch
  // still waiting for the broker keeps its rows); returns how many it extended.
  boost::asio::awaitable<std::int64_t> renew(std::string owner, std::vector<std::string> ids,
                                             std::chrono::milliseconds lease);

  // Marks SENT those of `ids` still leased by `owner`; returns them. An id missing from the
  // result lost its lease (another publisher claimed it after the lease ran out).
  boost::asio::awaitable<std::vector<SentRow>> mark_sent(std::string owner,
                                                         std::vector<std::string> ids);

  // Records failed deliveries of rows still leased by `owner`: attempts + 1, last_error
  // (truncated), next_attempt_at = now() + retry_in, lease cleared; FAILED once attempts reach
  // `max_attempts`. Returns the rows it changed (a missing id lost its lease).
  boost::asio::awaitable<std::vector<SettledFailure>> mark_failed(
      std::string owner, std::vector<FailedDelivery> failures, int max_attempts);

  // PENDING count and oldest age over at most `cap` rows, read through the partial index of
  // PENDING rows (cheap however many SENT rows the table holds).
  boost::asio::awaitable<Backlog> backlog(std::int64_t cap);

  // Deletes up to `limit` SENT rows sent more than `retention` ago; returns how many.
  boost::asio::awaitable<std::int64_t> purge_sent(std::chrono::hours retention, int limit);

 private:
  pg::Pool& pool_;
};

}  // namespace ticketd::infra::outbox
