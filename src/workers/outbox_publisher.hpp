#pragma once
// workers/outbox_publisher: moves outbox rows to Kafka (README "Outbox → Kafka", migration 0004's
// protocol).
//
// One pass: lease a batch of due PENDING rows (SKIP LOCKED, so any number of instances share
// the table without waiting on each other), produce every row concurrently with the idempotent
// producer (key = message_key, value = the stored payload as is, headers x-correlation-id,
// x-event-id, x-event-type plus the row's own), then settle the batch in at most two
// statements (while it waits for the broker, the next batch may be claimed and enqueued; up to
// four batches are in flight, and claims stay sequential so rows are enqueued in outbox order):
// SENT for what the broker acknowledged, and for failures attempts + 1 and a retry after min(cap,
// base·2^(attempts-1)) with jitter, FAILED after max attempts. Both statements only touch rows this
// publisher still leases, so a publisher that stalled past its lease never overwrites another one's
// work (the lost rows are counted). A batch still waiting for the broker renews its lease every
// third of it, so nobody (this publisher's next claims included) takes its rows over and sends
// them twice while it is merely slow.
//
// When it runs: a LISTEN on `outbox_events` (the table's trigger notifies on commit) wakes it
// within milliseconds; while batches come back full it loops at once; a failed delivery wakes it
// when its retry is due (not at the next poll); otherwise it polls every `interval` as a fallback
// (notifications are not guaranteed: a reconnect, a session with ticketd.outbox_notify=off). All of
// it runs as coroutines on one strand; librdkafka's work happens on its own threads, so no I/O
// thread blocks.
//
// Delivery is at least once: a crash (or an ack statement that fails) between the broker's
// acknowledgement and the SENT update publishes the row again after its lease; consumers
// deduplicate by x-event-id / eventId.
#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/metrics.hpp"
#include "infra/kafka/message.hpp"
#include "infra/kafka/producer.hpp"
#include "infra/outbox/relay.hpp"
#include "infra/pg/listener.hpp"
#include "infra/pg/pool.hpp"

namespace ticketd::workers {

// Delay before retry number `attempts` (the count of failures so far, >= 1):
// min(cap, base · 2^(attempts-1)) scaled by `jitter` (expected in [0.5, 1]), never below 1 ms.
std::chrono::milliseconds outbox_retry_delay(int attempts, std::chrono::milliseconds base,
                                             std::chrono::milliseconds cap, double jitter);

// Kafka headers of a row: x-correlation-id (empty when the row has none), x-event-id (the row
// id), x-event-type, then the row's `headers` object (string values as they are, other JSON
// values serialized). Throws std::invalid_argument when `headers` is not a JSON object.
std::vector<infra::kafka::Header> outbox_headers(const infra::outbox::ClaimedRow& row);

class OutboxPublisher {
 public:
  struct Options {
    int batch_size = 200;
    std::chrono::milliseconds interval{1'000};  // polling fallback
    int max_attempts = 10;
    std::chrono::milliseconds backoff_base{500};
    std::chrono::milliseconds backoff_max{60'000};
    std::chrono::milliseconds lease{30'000};
    std::chrono::hours retention{0};  // SENT rows older than this are purged; 0 = keep
    // Other tables the same purge round keeps small, in bounded batches: each call deletes up
    // to `limit` rows that are past their own retention and returns how many.
    struct Purge {
      std::string what;  // log text
      std::function<boost::asio::awaitable<std::int64_t>(int limit)> batch;
    };
    std::vector<Purge> purges;
    // Lease owners are "<instance>/<random>"; empty = "<hostname>:<pid>".
    std::string instance;
  };

  // `listen`: where to LISTEN for outbox_events notifications; std::nullopt polls only.
  // The pool, producer and registry must outlive the publisher. Once started, it must be
  // stopped (stop() completed) before it is destroyed.
  OutboxPublisher(const boost::asio::any_io_executor& executor, infra::pg::Pool& pool,
                  infra::kafka::Producer& producer, std::optional<infra::pg::ConnectOptions> listen,
                  Options options, core::metrics::Registry& metrics);
  ~OutboxPublisher();
  OutboxPublisher(const OutboxPublisher&) = delete;
  OutboxPublisher& operator=(const OutboxPublisher&) = delete;

  void start();
  // Stops after the batch in flight (bounded by the producer's message.timeout.ms) and completes
  // once the loop and the listener have exited. Call before the producer is closed.
  boost::asio::awaitable<void> stop();

  // Runs a pass soon (also what a notification does). Thread-safe.
  void wake();

  // One pass without the loop (tests, tools): claims, produces and settles one batch; returns
  // how many rows it claimed. Throws when the database fails. Must not run concurrently with
  // the loop of the same publisher.
  boost::asio::awaitable<std::size_t> publish_batch();

  // Healthy while passes complete regularly (the last one at most a few intervals, plus the
  // lease for a batch waiting on the broker, ago).
  bool healthy() const noexcept;
  std::string describe() const;
  // This instance's lease owner (lease_owner of the rows it claims).
  const std::string& owner() const noexcept { return owner_; }
  bool listening() const noexcept;

 private:
  struct Metrics;
  struct Batch;
  boost::asio::awaitable<void> run();
  // All on strand_: claim a batch and enqueue every row (nullptr when nothing is due); wait for
  // its outcomes and record them; both in sequence.
  boost::asio::awaitable<std::shared_ptr<Batch>> claim_and_produce();
  boost::asio::awaitable<void> settle(std::shared_ptr<Batch> batch);
  // settle()'s parts: wait for every outcome (renewing the lease meanwhile), then record the
  // acknowledged rows and the failed ones.
  boost::asio::awaitable<void> await_outcomes(std::shared_ptr<Batch> batch);
  boost::asio::awaitable<void> record_sent(std::vector<std::string> acked);
  boost::asio::awaitable<void> record_failures(std::vector<infra::outbox::FailedDelivery> failures);
  boost::asio::awaitable<std::size_t> pass();
  boost::asio::awaitable<void> refresh_backlog();
  boost::asio::awaitable<void> maybe_purge();
  std::int64_t now_ms() const noexcept;

  boost::asio::strand<boost::asio::any_io_executor> strand_;
  infra::outbox::Relay relay_;
  infra::kafka::Producer& producer_;
  Options options_;
  std::string owner_;
  std::unique_ptr<Metrics> metrics_;
  boost::asio::steady_timer timer_;
  boost::asio::steady_timer slot_timer_;    // a batch in flight settled
  boost::asio::steady_timer linger_timer_;  // not cut short by wake(): only stop() cancels it
  std::size_t in_flight_ = 0;               // strand only
  bool wake_pending_ = false;               // strand only
  // The soonest retry this publisher scheduled that no pass has reached yet (strand only).
  boost::asio::steady_timer::time_point retry_due_ = boost::asio::steady_timer::time_point::max();
  std::int64_t last_backlog_ms_ = 0;
  std::int64_t last_purge_ms_ = 0;
  std::atomic<bool> wake_queued_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> running_{false};
  std::atomic<std::int64_t> heartbeat_ms_{0};
  // Last: its loop calls wake() on this object.
  std::unique_ptr<infra::pg::Listener> listener_;
};

}  // namespace ticketd::workers
