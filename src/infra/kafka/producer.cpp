#include "infra/kafka/producer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <mutex>
#include <thread>
#include <unordered_set>
#include <utility>

#include "core/errors.hpp"
#include "core/log.hpp"
#include "infra/kafka/client.hpp"

namespace ticketd::infra::kafka {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr int kPollTimeoutMs = 100;  // how quickly the poll thread notices close()
constexpr int kProbeTimeoutMs = 1000;
constexpr auto kProbeInterval = 1s;
// After purging, the delivery reports of the purged messages still have to be served.
constexpr int kPurgeServeTimeoutMs = 1000;

std::exception_ptr produce_error(const std::string& detail) {
  return std::make_exception_ptr(
      core::InfraError(core::ErrorKind::kUnavailable, "KAFKA_PRODUCE_FAILED", detail));
}

int to_ms(std::chrono::milliseconds d) {
  return static_cast<int>(std::clamp<std::chrono::milliseconds::rep>(d.count(), 0, INT32_MAX));
}

// One enqueued message. librdkafka holds it as the message opaque from a successful enqueue until
// its delivery report; the Producer also tracks it so none can outlive the client unanswered.
class Delivery {
 public:
  explicit Delivery(std::string topic) : topic_(std::move(topic)), enqueued_(Clock::now()) {}
  virtual ~Delivery() = default;
  Delivery(const Delivery&) = delete;
  Delivery& operator=(const Delivery&) = delete;

  // Posts the completion to the awaiting operation's executor. Called exactly once.
  virtual void complete(std::exception_ptr error) noexcept = 0;

  const std::string& topic() const noexcept { return topic_; }
  Clock::time_point enqueued() const noexcept { return enqueued_; }

 private:
  std::string topic_;
  Clock::time_point enqueued_;
};

template <typename Handler>
class DeliveryOp final : public Delivery {
 public:
  DeliveryOp(Handler handler, const asio::any_io_executor& fallback, std::string topic)
      : Delivery(std::move(topic)),
        // Tracked work keeps the io_context running while the broker has not answered yet.
        work_(asio::make_work_guard(asio::get_associated_executor(handler, fallback))),
        handler_(std::move(handler)) {}

  // Posting fails only when memory runs out; terminating then (noexcept) beats an awaiting
  // produce() that never completes.
  // NOLINTNEXTLINE(bugprone-exception-escape)
  void complete(std::exception_ptr error) noexcept override {
    auto executor = work_.get_executor();
    asio::post(executor,
               [handler = std::move(handler_), error]() mutable { std::move(handler)(error); });
    work_.reset();
  }

 private:
  asio::executor_work_guard<asio::associated_executor_t<Handler, asio::any_io_executor>> work_;
  Handler handler_;
};

}  // namespace

struct Producer::State final : detail::ClientContext {
  State(asio::any_io_executor ex, std::shared_ptr<ProducerMetrics> m)
      : ClientContext("producer"), executor(std::move(ex)), metrics(std::move(m)) {}

  static void delivery_callback(rd_kafka_t*, const rd_kafka_message_t* msg, void* opaque) {
    static_cast<State*>(detail::ClientContext::from_opaque(opaque))->delivered(msg);
  }

  void on_error(rd_kafka_t* rk, int err, const char* reason) noexcept override;
  void enqueue(std::unique_ptr<Delivery> op, const std::string& topic, const std::string& key,
               const std::string& value, const std::vector<Header>& headers) noexcept;
  void delivered(const rd_kafka_message_t* msg) noexcept;
  void poll_loop() noexcept;
  void probe_loop() noexcept;
  void record_probe(rd_kafka_resp_err_t err) noexcept;
  void fail_remaining() noexcept;
  std::size_t in_flight() {
    std::lock_guard lock(pending_mutex);
    return pending.size();
  }

  asio::any_io_executor executor;
  std::shared_ptr<ProducerMetrics> metrics;
  std::string brokers;

  std::mutex pending_mutex;
  std::unordered_set<Delivery*> pending;  // owned; see Delivery

  std::atomic<bool> reachable{false};
  std::atomic<bool> closed{false};
  std::atomic<bool> stop_poll{false};
  std::mutex probe_mutex;
  std::condition_variable probe_cv;
  bool stop_probe = false;     // guarded by probe_mutex
  int last_logged_state = -1;  // probe thread only: -1 unknown, 0 down, 1 up

  KafkaHandle rk;
  // Background work last, so it starts after and stops before everything it touches.
  std::thread poll_thread;
  std::thread probe_thread;
};

void Producer::State::on_error(rd_kafka_t* handle, int err, const char* reason) noexcept {
  ClientContext::on_error(handle, err, reason);
  // Faster than waiting for the next probe: librdkafka knows every broker connection is down.
  if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || err == RD_KAFKA_RESP_ERR__FATAL) {
    reachable.store(false, std::memory_order_relaxed);
    metrics->broker_up.set(0);
  }
}

void Producer::State::enqueue(std::unique_ptr<Delivery> op, const std::string& topic,
                              const std::string& key, const std::string& value,
                              const std::vector<Header>& headers) noexcept {
  if (closed.load(std::memory_order_acquire)) {
    metrics->produced.with({topic, "rejected"}).inc();
    op->complete(produce_error(fmt::format("produce to {}: producer is closed", topic)));
    return;
  }
  std::exception_ptr error;
  Delivery* raw = op.get();
  try {
    std::vector<rd_kafka_vu_t> vus(5 + headers.size());
    std::size_t n = 0;
    auto next = [&](rd_kafka_vtype_t type) -> rd_kafka_vu_t& {
      rd_kafka_vu_t& vu = vus[n++];
      vu.vtype = type;
      return vu;
    };
    next(RD_KAFKA_VTYPE_TOPIC).u.cstr = topic.c_str();
    if (!key.empty()) {
      auto& k = next(RD_KAFKA_VTYPE_KEY);
      k.u.mem.ptr = const_cast<char*>(key.data());  // read only: copied (RD_KAFKA_MSG_F_COPY)
      k.u.mem.size = key.size();
    }
    auto& v = next(RD_KAFKA_VTYPE_VALUE);
    v.u.mem.ptr = const_cast<char*>(value.data());
    v.u.mem.size = value.size();
    next(RD_KAFKA_VTYPE_MSGFLAGS).u.i = RD_KAFKA_MSG_F_COPY;
    next(RD_KAFKA_VTYPE_OPAQUE).u.ptr = raw;
    for (const auto& h : headers) {
      auto& hv = next(RD_KAFKA_VTYPE_HEADER);
      hv.u.header.name = h.key.c_str();
      hv.u.header.val = h.value.data();
      hv.u.header.size = static_cast<ssize_t>(h.value.size());
    }

    {
      std::lock_guard lock(pending_mutex);
      pending.insert(raw);
    }
    metrics->in_flight.inc();
    (void)op.release();  // from here the delivery report (or the sweep at destruction) owns it
    ErrorHandle failed(rd_kafka_produceva(rk.get(), vus.data(), n));
    if (!failed) return;

    {
      std::lock_guard lock(pending_mutex);
      pending.erase(raw);
    }
    metrics->in_flight.dec();
    op.reset(raw);
    error = produce_error(
        fmt::format("enqueue to {} failed: {}", topic, rd_kafka_error_string(failed.get())));
  } catch (...) {
    // Only allocation can fail above, and only before the message was handed to librdkafka.
    if (!op) {
      std::lock_guard lock(pending_mutex);
      pending.erase(raw);
      op.reset(raw);
      metrics->in_flight.dec();
    }
    error = std::current_exception();
  }
  try {
    metrics->produced.with({topic, "rejected"}).inc();
  } catch (const std::exception& e) {
    core::log::error("kafka metrics update failed", {{"error", e.what()}});
  }
  op->complete(error);
}

void Producer::State::delivered(const rd_kafka_message_t* msg) noexcept {
  auto* raw = static_cast<Delivery*>(msg->_private);
  {
    std::lock_guard lock(pending_mutex);
    pending.erase(raw);
  }
  metrics->in_flight.dec();
  std::unique_ptr<Delivery> op(raw);
  std::exception_ptr error;
  try {
    const std::chrono::duration<double> elapsed = Clock::now() - op->enqueued();
    metrics->latency.with({op->topic()}).observe(elapsed.count());
    if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      metrics->produced.with({op->topic(), "ok"}).inc();
    } else {
      metrics->produced.with({op->topic(), "failed"}).inc();
      error = produce_error(fmt::format("delivery to {} failed: {} ({})", op->topic(),
                                        rd_kafka_err2str(msg->err), rd_kafka_err2name(msg->err)));
    }
  } catch (...) {
    error = std::current_exception();
  }
  op->complete(error);
}

void Producer::State::poll_loop() noexcept {
  while (!stop_poll.load(std::memory_order_acquire)) rd_kafka_poll(rk.get(), kPollTimeoutMs);
}

void Producer::State::probe_loop() noexcept {
  std::unique_lock lock(probe_mutex);
  while (!stop_probe) {
    lock.unlock();
    // No topics named: the request only asks for the broker list, the cheapest round trip that
    // proves the cluster answers. It runs here, never on an I/O thread, because it blocks.
    const rd_kafka_metadata_t* raw = nullptr;
    const rd_kafka_resp_err_t err = rd_kafka_metadata(rk.get(), 0, nullptr, &raw, kProbeTimeoutMs);
    MetadataHandle metadata(raw);
    record_probe(err);
    lock.lock();
    probe_cv.wait_for(lock, kProbeInterval, [this] { return stop_probe; });
  }
}

void Producer::State::record_probe(rd_kafka_resp_err_t err) noexcept {
  const bool up = err == RD_KAFKA_RESP_ERR_NO_ERROR && !fatal();
  reachable.store(up, std::memory_order_relaxed);
  metrics->broker_up.set(up ? 1 : 0);
  if (last_logged_state == (up ? 1 : 0)) return;
  last_logged_state = up ? 1 : 0;
  try {
    if (up) {
      // A new outage should be reported at once, not hidden by the previous one's rate limit.
      limiter().reset();
      core::log::info("kafka broker reachable", {{"brokers", brokers}});
    } else {
      core::log::warn("kafka broker unreachable",
                      {{"brokers", brokers}, {"code", rd_kafka_err2name(err)}});
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kafka probe logging failed: %s\n", e.what());
  }
}

void Producer::State::fail_remaining() noexcept {
  std::unordered_set<Delivery*> left;
  {
    std::lock_guard lock(pending_mutex);
    left.swap(pending);
  }
  for (Delivery* raw : left) {
    std::unique_ptr<Delivery> op(raw);
    metrics->in_flight.dec();
    std::exception_ptr error;
    try {
      metrics->produced.with({op->topic(), "failed"}).inc();
      error = produce_error(
          fmt::format("produce to {}: producer destroyed before delivery", op->topic()));
    } catch (...) {
      error = std::current_exception();
    }
    op->complete(error);
  }
  if (!left.empty()) {
    core::log::warn("kafka producer failed undelivered messages at destruction",
                    {{"count", left.size()}});
  }
}

Producer::Producer(asio::any_io_executor executor, Options options,
                   core::metrics::Registry& registry)
    : Producer(std::move(executor), std::move(options),
               std::make_shared<ProducerMetrics>(registry)) {}

Producer::Producer(asio::any_io_executor executor, Options options,
                   std::shared_ptr<ProducerMetrics> metrics)
    : state_(std::make_unique<State>(std::move(executor), std::move(metrics))) {
  State& s = *state_;
  s.brokers = options.brokers;
  auto conf = s.make_conf(
      options, {
                   // Exactly-once per partition and in order across broker retries; implies
                   // acks=all, retries and max.in.flight <= 5. Spelled out for the reader.
                   {"enable.idempotence", "true"},
                   {"acks", "all"},
                   // Bounded local queue: when full, produce() fails fast instead of growing.
                   {"queue.buffering.max.messages", "100000"},
                   {"queue.buffering.max.kbytes", "65536"},
                   // Small batching window: a few ms of latency buys much larger batches.
                   {"linger.ms", "5"},
                   // Bound on one produce(): the outbox publisher retries after that.
                   {"message.timeout.ms", "30000"},
                   // Same key → same partition as the Java client (interoperable ordering).
                   {"partitioner", "murmur2_random"},
                   // Reconnect within about a second of the broker coming back.
                   {"reconnect.backoff.ms", "100"},
                   {"reconnect.backoff.max.ms", "1000"},
                   // Brokers close idle connections routinely; that is not worth a log line.
                   {"log.connection.close", "false"},
               });
  rd_kafka_conf_set_dr_msg_cb(conf.get(), &State::delivery_callback);
  if (const auto limit = detail::conf_get(conf.get(), "queue.buffering.max.messages");
      !limit.empty()) {
    s.metrics->queue_limit.set(std::stod(limit));
  }
  s.rk = detail::ClientContext::make_handle(RD_KAFKA_PRODUCER, std::move(conf));
  s.poll_thread = std::thread([&s] { s.poll_loop(); });
  try {
    s.probe_thread = std::thread([&s] { s.probe_loop(); });
  } catch (...) {
    s.stop_poll.store(true, std::memory_order_release);
    s.poll_thread.join();
    throw;
  }
  core::log::info("kafka producer started",
                  {{"brokers", options.brokers}, {"clientId", options.client_id}});
}

Producer::~Producer() {
  close(kDefaultCloseTimeout);
  // Destroying the client is the only way to be sure no delivery report can still run; whatever
  // librdkafka dropped without a report is then failed here.
  state_->rk.reset();
  state_->fail_remaining();
}

asio::awaitable<void> Producer::produce(std::string topic, std::string key, std::string value,
                                        std::vector<Header> headers) {
  // The initiation runs while this coroutine is suspended, so its parameters are still alive.
  co_await asio::async_initiate<const asio::use_awaitable_t<>&, void(std::exception_ptr)>(
      [&](auto handler) {
        using Handler = std::decay_t<decltype(handler)>;
        auto op =
            std::make_unique<DeliveryOp<Handler>>(std::move(handler), state_->executor, topic);
        state_->enqueue(std::move(op), topic, key, value, headers);
      },
      asio::use_awaitable);
}

void Producer::flush(std::chrono::milliseconds timeout) {
  if (state_->closed.load(std::memory_order_acquire)) return;
  if (rd_kafka_flush(state_->rk.get(), to_ms(timeout)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw core::InfraError(core::ErrorKind::kUnavailable, "KAFKA_FLUSH_TIMEOUT",
                           fmt::format("{} messages still queued after {} ms",
                                       rd_kafka_outq_len(state_->rk.get()), timeout.count()));
  }
}

void Producer::close(std::chrono::milliseconds flush_timeout) {
  State& s = *state_;
  if (s.closed.exchange(true, std::memory_order_acq_rel)) return;
  core::log::info("kafka producer closing", {{"inFlight", s.in_flight()}});

  // The probe may sit in a metadata request for up to a second: let it finish while flushing.
  {
    std::lock_guard lock(s.probe_mutex);
    s.stop_probe = true;
  }
  s.probe_cv.notify_all();

  rd_kafka_t* rk = s.rk.get();
  if (rd_kafka_flush(rk, to_ms(flush_timeout)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    core::log::warn("kafka producer flush timed out; failing the rest",
                    {{"remaining", rd_kafka_outq_len(rk)}, {"timeoutMs", flush_timeout.count()}});
  }
  // Whatever is left fails now with a delivery report (__PURGE_QUEUE / __PURGE_INFLIGHT), which
  // the poll thread turns into completions.
  rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  rd_kafka_flush(rk, kPurgeServeTimeoutMs);

  if (s.probe_thread.joinable()) s.probe_thread.join();
  s.stop_poll.store(true, std::memory_order_release);
  if (s.poll_thread.joinable()) s.poll_thread.join();
  rd_kafka_poll(rk, 0);  // reports that arrived while the poll thread was stopping

  s.reachable.store(false, std::memory_order_relaxed);
  s.metrics->broker_up.set(0);
  core::log::info("kafka producer closed", {{"inFlight", s.in_flight()}});
}

bool Producer::broker_reachable() const noexcept {
  return state_->reachable.load(std::memory_order_relaxed);
}

}  // namespace ticketd::infra::kafka
