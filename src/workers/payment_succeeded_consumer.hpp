#pragma once
// workers/payment_succeeded_consumer: turns `payment.succeeded` Kafka messages into orders and
// tickets (README, "Outbox → Kafka"). At least once, effectively once:
//   - the offset is committed only after finalization committed in PostgreSQL (a crash before
//     the commit redelivers the message; finalization of a finalized payment is a no-op);
//   - a failing message is retried with capped exponential backoff and jitter; after
//     `max_attempts` it is written to `payment.succeeded.dlq` with its original topic,
//     partition, offset, error and attempts, and only once that write is acknowledged is the
//     offset committed (a DLQ outage blocks the partition rather than losing the message);
//   - an unparseable (poison) message goes to the DLQ at once; nothing stops the loop.
// librdkafka's consumer calls block, so the loop owns one thread. It takes up to kBatch messages
// at a time and finalizes them concurrently on the io_context (payments are independent; each is
// serialized by its own row lock), then commits per partition the longest prefix that is done.
#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "core/metrics.hpp"
#include "infra/kafka/message.hpp"
#include "infra/kafka/options.hpp"
#include "infra/kafka/producer.hpp"
#include "modules/tickets/service.hpp"

namespace ticketd::workers {

class PaymentSucceededConsumer {
 public:
  struct Options {
    infra::kafka::Options kafka;
    std::string group_id = "ticketd-payment-succeeded";
    std::string topic = "payment.succeeded";
    int max_attempts = 5;
    std::chrono::milliseconds backoff{200};
    std::chrono::milliseconds backoff_max{5'000};
  };

  PaymentSucceededConsumer(boost::asio::any_io_executor io, tickets::Service& tickets,
                           infra::kafka::Producer& producer, Options options,
                           core::metrics::Registry& metrics);
  // Joins the thread (after stop()); blocking.
  ~PaymentSucceededConsumer();
  PaymentSucceededConsumer(const PaymentSucceededConsumer&) = delete;
  PaymentSucceededConsumer& operator=(const PaymentSucceededConsumer&) = delete;

  void start();
  // Asks the loop to finish the message in hand (without committing an unfinished one) and
  // leave the group; completes when it has, or after `timeout`. Never blocks an I/O thread.
  boost::asio::awaitable<void> stop(std::chrono::milliseconds timeout);

  bool healthy() const noexcept;
  std::string describe() const;

 private:
  void run();
  // Finalizes with retries, else dead-letters; true when the offset may be committed, false
  // when stopping interrupted it. Runs on the io_context.
  boost::asio::awaitable<bool> process(infra::kafka::Message message);
  // Writes to <topic>.dlq until the broker acknowledges (or stopping: false).
  boost::asio::awaitable<bool> dead_letter(infra::kafka::Message message, std::string error,
                                           int attempts);
  // Sleeps on the io_context; false when stopping.
  boost::asio::awaitable<bool> sleep(std::chrono::milliseconds d);
  // Waits for work posted to the io_context; false when shutdown abandoned it.
  template <typename Future>
  bool wait(Future& future);
  // Sleeps up to `d` on the worker thread; false when stopping.
  bool pause(std::chrono::milliseconds d);
  std::chrono::milliseconds backoff_for(int attempt) const;
  std::int64_t now_ms() const noexcept;

  boost::asio::any_io_executor io_;
  tickets::Service& tickets_;
  infra::kafka::Producer& producer_;
  Options options_;
  core::metrics::Registry& registry_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> finished_{false};
  std::atomic<bool> joined_{false};
  std::atomic<std::int64_t> heartbeat_ms_{0};
  std::atomic<std::int64_t> consumed_{0};
  core::metrics::Family<core::metrics::Counter>& outcomes_;
  core::metrics::Counter& retries_;
  core::metrics::Counter& dlq_;
  core::metrics::Histogram& latency_;
  std::thread thread_;
};

}  // namespace ticketd::workers
