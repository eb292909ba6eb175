#include "workers/payment_succeeded_consumer.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json/parse.hpp>
#include <future>
#include <map>
#include <optional>
#include <set>

#include "core/errors.hpp"
#include "core/ids.hpp"
#include "core/log.hpp"
#include "infra/kafka/consumer.hpp"

namespace ticketd::workers {

namespace asio = boost::asio;
using infra::kafka::Header;
using infra::kafka::Message;

namespace {

constexpr auto kPoll = std::chrono::milliseconds(250);
constexpr auto kWaitStep = std::chrono::milliseconds(100);
// Messages finalized concurrently per round (bounded by the database pool in practice).
constexpr std::size_t kBatch = 64;

std::string header_of(const Message& m, std::string_view key) {
  for (const auto& h : m.headers) {
    if (h.key == key) return h.value;
  }
  return {};
}

// The payment id of a payment.succeeded envelope {…, data: {payment: {id, …}}}; empty when the
// message is not one (poison).
std::string payment_id_of(const Message& m, std::string& error) {
  boost::system::error_code ec;
  auto v = boost::json::parse(m.value, ec);
  if (ec || !v.is_object()) {
    error = "value is not a JSON object";
    return {};
  }
  const auto* data = v.as_object().if_contains("data");
  const auto* payment =
      data != nullptr && data->is_object() ? data->as_object().if_contains("payment") : nullptr;
  const auto* id =
      payment != nullptr && payment->is_object() ? payment->as_object().if_contains("id") : nullptr;
  if (id == nullptr || !id->is_string() || !core::is_uuid(id->as_string())) {
    error = "no data.payment.id";
    return {};
  }
  return std::string(id->as_string());
}

// After shutdown began, work on the io_context gets this long before it is abandoned (the
// io_context may already be stopping; the message is then simply not committed).
constexpr auto kShutdownGrace = std::chrono::seconds(10);

}  // namespace

template <typename Future>
bool PaymentSucceededConsumer::wait(Future& future) {
  std::optional<std::chrono::steady_clock::time_point> abandon_at;
  while (future.wait_for(kWaitStep) != std::future_status::ready) {
    heartbeat_ms_.store(now_ms());
    if (!stopping_.load()) continue;
    const auto now = std::chrono::steady_clock::now();
    if (!abandon_at) abandon_at = now + kShutdownGrace;
    if (now >= *abandon_at) return false;
  }
  return true;
}

PaymentSucceededConsumer::PaymentSucceededConsumer(asio::any_io_executor io,
                                                   tickets::Service& tickets,
                                                   infra::kafka::Producer& producer,
                                                   Options options,
                                                   core::metrics::Registry& metrics)
    : io_(std::move(io)),
      tickets_(tickets),
      producer_(producer),
      options_(std::move(options)),
      registry_(metrics),
      outcomes_(metrics.counter("ticketd_consumer_messages_total",
                                "payment.succeeded messages by outcome (issued, refund_required, "
                                "noop, dead_lettered)",
                                {"outcome"})),
      retries_(metrics
                   .counter("ticketd_consumer_retries_total",
                            "Failed attempts at a consumed message that will be retried")
                   .get()),
      dlq_(metrics.counter("ticketd_kafka_dlq_total", "Messages written to a dead-letter topic")
               .get()),
      latency_(metrics
                   .histogram("ticketd_consumer_handle_seconds",
                              "Time to finalize one payment.succeeded message")
                   .get()) {}

PaymentSucceededConsumer::~PaymentSucceededConsumer() {
  stopping_.store(true);
  if (thread_.joinable()) thread_.join();
}

void PaymentSucceededConsumer::start() {
  heartbeat_ms_.store(now_ms());
  thread_ = std::thread([this] { run(); });
}

asio::awaitable<void> PaymentSucceededConsumer::stop(std::chrono::milliseconds timeout) {
  stopping_.store(true);
  if (!thread_.joinable()) co_return;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer timer(executor);
  while (!finished_.load() && std::chrono::steady_clock::now() < deadline) {
    timer.expires_after(std::chrono::milliseconds(20));
    co_await timer.async_wait(asio::use_awaitable);
  }
}

std::int64_t PaymentSucceededConsumer::now_ms() const noexcept {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool PaymentSucceededConsumer::healthy() const noexcept {
  // Ready once in the consumer group (before, payments wait for a rebalance); a message being
  // retried still beats the heartbeat: only a wedged loop goes quiet.
  return joined_.load() && !finished_.load() && now_ms() - heartbeat_ms_.load() < 30'000;
}

std::string PaymentSucceededConsumer::describe() const {
  if (finished_.load()) return "stopped";
  if (!joined_.load()) return "joining the consumer group";
  return healthy() ? "ok (" + std::to_string(consumed_.load()) + " consumed)" : "stalled";
}

bool PaymentSucceededConsumer::pause(std::chrono::milliseconds d) {
  const auto until = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < until) {
    if (stopping_.load()) return false;
    heartbeat_ms_.store(now_ms());
    std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(
        kWaitStep, std::chrono::duration_cast<std::chrono::milliseconds>(
                       until - std::chrono::steady_clock::now()) +
                       std::chrono::milliseconds(1)));
  }
  return !stopping_.load();
}

std::chrono::milliseconds PaymentSucceededConsumer::backoff_for(int attempt) const {
  auto d = options_.backoff;
  for (int i = 1; i < attempt && d < options_.backoff_max; ++i) d *= 2;
  d = std::min(d, options_.backoff_max);
  // Full jitter on the upper half: spreads retries of many instances without starving one.
  const auto half = d.count() / 2;
  return std::chrono::milliseconds(half + core::random_below(static_cast<std::uint32_t>(half + 1)));
}

void PaymentSucceededConsumer::run() {
  std::unique_ptr<infra::kafka::Consumer> consumer;
  while (!stopping_.load()) {
    heartbeat_ms_.store(now_ms());
    try {
      if (!consumer) {
        std::vector<std::string> topics{options_.topic};
        consumer = std::make_unique<infra::kafka::Consumer>(options_.kafka, options_.group_id,
                                                            std::move(topics), registry_);
        core::log::info("payment.succeeded consumer started", {{"group", options_.group_id}});
      }
      auto first = consumer->poll(kPoll);
      joined_.store(consumer->joined());
      if (!first) continue;
      std::vector<Message> batch;
      batch.push_back(std::move(*first));
      while (batch.size() < kBatch) {
        auto more = consumer->poll(std::chrono::milliseconds(0));
        if (!more) break;
        batch.push_back(std::move(*more));
      }
      consumed_.fetch_add(static_cast<std::int64_t>(batch.size()));
      std::vector<std::future<bool>> futures;
      futures.reserve(batch.size());
      for (const auto& m : batch)
        futures.push_back(asio::co_spawn(io_, process(m), asio::use_future));
      std::vector<bool> done(batch.size(), false);
      for (std::size_t i = 0; i < batch.size(); ++i) {
        if (!wait(futures[i])) continue;
        try {
          done[i] = futures[i].get();
        } catch (const std::exception& e) {
          core::log::error("payment.succeeded processing failed", {{"error", e.what()}});
        }
      }
      // Per partition, commit the last message of the longest prefix that is done; the rest is
      // redelivered (only when stopping interrupted it), which finalization absorbs.
      std::map<std::int32_t, const Message*> commit_at;
      std::set<std::int32_t> blocked;
      bool complete = true;
      for (std::size_t i = 0; i < batch.size(); ++i) {
        const auto p = batch[i].partition;
        if (!done[i]) {
          blocked.insert(p);
          complete = false;
        } else if (!blocked.contains(p)) {
          commit_at[p] = &batch[i];
        }
      }
      for (const auto& [partition, message] : commit_at) {
        try {
          consumer->commit(*message);
        } catch (const std::exception& e) {
          // e.g. a rebalance took the partition: it comes again, finalization is idempotent
          core::log::warn("offset commit failed; messages will be redelivered",
                          {{"error", e.what()}, {"partition", partition}});
        }
      }
      if (!complete) break;  // stopping
    } catch (const std::exception& e) {
      // A fatal client error: start over with a new client (uncommitted messages come back).
      core::log::error("payment.succeeded consumer failed; recreating it", {{"error", e.what()}});
      consumer.reset();
      joined_.store(false);
      pause(std::chrono::seconds(1));
    }
  }
  if (consumer) {
    try {
      consumer->close();
    } catch (const std::exception& e) {
      core::log::warn("payment.succeeded consumer close failed", {{"error", e.what()}});
    }
  }
  finished_.store(true);
  core::log::info("payment.succeeded consumer stopped");
}

asio::awaitable<bool> PaymentSucceededConsumer::sleep(std::chrono::milliseconds d) {
  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer timer(executor);
  const auto until = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < until) {
    if (stopping_.load()) co_return false;
    timer.expires_after(std::min<std::chrono::steady_clock::duration>(
        kWaitStep, until - std::chrono::steady_clock::now()));
    co_await timer.async_wait(asio::use_awaitable);
  }
  co_return !stopping_.load();
}

asio::awaitable<bool> PaymentSucceededConsumer::process(Message message) {
  std::string error;
  const std::string payment_id = payment_id_of(message, error);
  const std::string correlation_id = header_of(message, "x-correlation-id");
  int attempts = 0;
  if (!payment_id.empty()) {
    for (;;) {
      ++attempts;
      const auto start = std::chrono::steady_clock::now();
      std::optional<tickets::Finalized> done;
      try {
        std::string id = payment_id;
        std::string correlation = correlation_id;
        auto finalized = co_await tickets_.finalize(std::move(id), std::move(correlation));
        done = std::move(finalized);
      } catch (const std::exception& e) {
        error = e.what();
      }
      if (done) {
        latency_.observe(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
        outcomes_
            .with({done->action == tickets::Finalization::kIssue            ? "issued"
                   : done->action == tickets::Finalization::kRefundRequired ? "refund_required"
                                                                            : "noop"})
            .inc();
        co_return true;
      }
      if (attempts >= options_.max_attempts) break;
      retries_.inc();
      core::log::warn("payment.succeeded handling failed; retrying",
                      {{"paymentId", payment_id},
                       {"attempt", attempts},
                       {"error", error},
                       {"correlationId", correlation_id}});
      const auto backoff = backoff_for(attempts);
      const bool go_on = co_await sleep(backoff);
      if (!go_on) co_return false;
    }
  } else {
    attempts = 1;  // poison: retrying cannot make it parse
  }
  const bool written = co_await dead_letter(std::move(message), std::move(error), attempts);
  co_return written;
}

asio::awaitable<bool> PaymentSucceededConsumer::dead_letter(Message message, std::string error,
                                                            int attempts) {
  std::vector<Header> headers = message.headers;
  headers.push_back({"x-original-topic", message.topic});
  headers.push_back({"x-original-partition", std::to_string(message.partition)});
  headers.push_back({"x-original-offset", std::to_string(message.offset)});
  headers.push_back({"x-error", error.substr(0, 1000)});
  headers.push_back({"x-attempts", std::to_string(attempts)});
  // Until the DLQ has it, the message is not given up (its offset stays uncommitted).
  for (int tries = 1;; ++tries) {
    std::string topic = message.topic + ".dlq";
    std::string key = message.key;
    std::string value = message.value;
    std::vector<Header> h = headers;
    bool written = false;
    try {
      co_await producer_.produce(std::move(topic), std::move(key), std::move(value), std::move(h));
      written = true;
    } catch (const std::exception& e) {
      core::log::error("dead-letter write failed; retrying",
                       {{"error", e.what()}, {"offset", message.offset}, {"try", tries}});
    }
    if (written) {
      dlq_.inc();
      outcomes_.with({"dead_lettered"}).inc();
      core::log::error("message dead-lettered", {{"topic", message.topic},
                                                 {"partition", message.partition},
                                                 {"offset", message.offset},
                                                 {"attempts", attempts},
                                                 {"error", error}});
      co_return true;
    }
    const auto backoff = backoff_for(tries);
    const bool go_on = co_await sleep(backoff);
    if (!go_on) co_return false;
  }
}

}  // namespace ticketd::workers
