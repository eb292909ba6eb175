#pragma once
// Group commit for holds. About 70 % of a reservation's database CPU is per transaction, not per
// reservation (bench/RESULTS.md), so concurrent reserve requests of this instance are decided
// together by one call of reserve_batch(): while `max_in_flight` batches are in the database,
// new requests gather (at most `max_size` per batch, one per user, and none of a user who has one
// in a batch in flight, so that a user's own requests stay ordered); a batch slot that frees up
// takes everything gathered. A request that finds no batch in flight goes at once and alone
// (through reserve(), today's path), so a lone request waits for nothing; one that finds some in
// flight but a slot free waits at most `window` for company. Requests the batch defers, and every
// request of a batch that failed as a whole, are run alone through reserve(): answers are exactly
// those of the per-request path.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <memory>

#include "core/metrics.hpp"
#include "modules/reservations/model.hpp"
#include "modules/reservations/repository.hpp"

namespace ticketd::reservations {

struct BatchOptions {
  std::size_t max_size = 64;                // RESERVE_BATCH_MAX; 1: no batching
  std::size_t max_in_flight = 2;            // RESERVE_BATCH_CONCURRENCY
  std::chrono::microseconds window{2'000};  // RESERVE_BATCH_WINDOW_US
};

class Batcher {
 public:
  Batcher(const boost::asio::any_io_executor& ex, Repository& repo, BatchOptions options,
          core::metrics::Registry& metrics);
  // Batches still in flight finish on their own (they share the state); `repo` must outlive them.
  ~Batcher();
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  // reserve()'s answer for this request, decided alone or in a batch.
  boost::asio::awaitable<ReserveResult> reserve(ReserveInput in);

  // For load shedding (a reserve request holds no pool connection of its own while batching):
  // whether requests are batched at all (RESERVE_BATCH_MAX > 1);
  bool batching() const noexcept;
  // the pool connections the batcher holds or will soon ask for (batches in flight, and the
  // batches the gathered requests make);
  std::size_t connections_wanted() const;
  // how long a request arriving now would wait for its batch to start: the batches the gathered
  // requests make, over the batch slots, times the recent duration of a batch.
  std::chrono::microseconds expected_wait() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace ticketd::reservations
