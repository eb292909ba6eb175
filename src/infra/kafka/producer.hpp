#pragma once
// Idempotent Kafka producer whose produce() is awaited from Asio coroutines.
//
// librdkafka runs its own network threads. This class adds two of its own:
//   - a poll thread serving rd_kafka_poll(): delivery reports and client errors. Each report
//     completes exactly one awaiting produce() by posting to that coroutine's executor, so no
//     librdkafka callback ever runs user code on an I/O thread or the other way round;
//   - a probe thread sending a metadata request every second, whose outcome is cached in an
//     atomic so /health/ready can ask broker_reachable() without touching the network.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/metrics.hpp"
#include "infra/kafka/message.hpp"
#include "infra/kafka/metrics.hpp"
#include "infra/kafka/options.hpp"

namespace ticketd::infra::kafka {

class Producer {
 public:
  // How long the destructor waits for queued messages before failing them.
  static constexpr std::chrono::milliseconds kDefaultCloseTimeout{5000};

  // Starts the poll and probe threads; does not wait for the broker (broker_reachable() turns
  // true after the first successful probe). `executor` completes produce() operations whose
  // handler has no executor of its own. The registry must outlive the producer; prefer the
  // ProducerMetrics overload when several producers share one registry.
  // Throws InfraError(kInternal, "KAFKA_CONFIG_INVALID") for a property librdkafka rejects and
  // InfraError(kUnavailable, "KAFKA_CLIENT_FAILED") when the client cannot be created.
  Producer(boost::asio::any_io_executor executor, Options options,
           core::metrics::Registry& registry);
  Producer(boost::asio::any_io_executor executor, Options options,
           std::shared_ptr<ProducerMetrics> metrics);

  // close(kDefaultCloseTimeout), then destroys the client. Blocks: never run it on an I/O thread.
  // Every produce() still pending completes with an error; none is leaked.
  ~Producer();

  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  // Completes once the broker acknowledged the message (acks=all, idempotent). An empty key is
  // sent as a null key. Never blocks: the message is copied into librdkafka's bounded queue.
  // Throws InfraError(kUnavailable, "KAFKA_PRODUCE_FAILED") when the local queue is full, the
  // producer is closed or fatally failed, or delivery failed (for instance no acknowledgement
  // within message.timeout.ms). Safe to call concurrently from any thread. Cancellation is not
  // supported: the operation is bounded by message.timeout.ms instead.
  boost::asio::awaitable<void> produce(std::string topic, std::string key, std::string value,
                                       std::vector<Header> headers = {});

  // Waits until every enqueued message is acknowledged or failed. Blocking: call it from a
  // non-I/O thread (shutdown, tests). Throws InfraError(kUnavailable, "KAFKA_FLUSH_TIMEOUT") when
  // messages remain after `timeout`.
  void flush(std::chrono::milliseconds timeout);

  // Graceful stop: stops the probe, flushes for up to `flush_timeout`, then fails whatever is
  // left and stops the poll thread. Later produce() calls fail. Idempotent; blocking.
  void close(std::chrono::milliseconds flush_timeout);

  // The last probe's verdict: true when the cluster answered a metadata request within about a
  // second, false before the first probe, while the brokers are down, after a fatal error and
  // after close(). Never blocks.
  bool broker_reachable() const noexcept;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace ticketd::infra::kafka
