#include "workers/outbox_publisher.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cmath>
#include <exception>
#include <stdexcept>

#include "core/async.hpp"
#include "core/ids.hpp"
#include "core/log.hpp"

namespace ticketd::workers {

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

constexpr std::string_view kChannel = "outbox_events";
// The backlog query reads at most this many PENDING rows (the gauge saturates there).
constexpr std::int64_t kBacklogCap = 100'000;
constexpr std::int64_t kBacklogRefreshMs = 1'000;
// SENT rows are purged in bounded batches, a few at a time, this often.
constexpr std::int64_t kPurgeEveryMs = std::int64_t{10} * 60 * 1'000;
constexpr int kPurgeBatch = 1'000;
constexpr int kPurgeBatchesPerRound = 10;
// Recording acknowledgements is retried briefly: a lost SENT update means a duplicate later.
constexpr int kAckAttempts = 4;
constexpr auto kAckRetryBase = 100ms;
// Batches produced but not yet settled: the next claim overlaps the wait for the broker's acks
// (throughput under a backlog, latency under a steady trickle of commits).
constexpr std::size_t kMaxBatchesInFlight = 4;
// Woken again while a pass ran (commits keep coming): wait this long before the next claim, so
// rows gather into batches instead of costing a claim and a settle statement every few rows
// (an on-sale commits hundreds of reservations per second). A first wake-up claims at once.
constexpr auto kBusyLinger = 5ms;

std::string error_text(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return ex.what();
  } catch (...) {
    return "unknown error";
  }
}

std::string default_instance() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  return fmt::format("{}:{}", host[0] != '\0' ? host : "ticketd", getpid());
}

}  // namespace

std::chrono::milliseconds outbox_retry_delay(int attempts, std::chrono::milliseconds base,
                                             std::chrono::milliseconds cap, double jitter) {
  const int exponent = std::clamp(attempts - 1, 0, 62);
  const double raw = static_cast<double>(base.count()) * std::ldexp(1.0, exponent);
  const double capped = std::min(raw, static_cast<double>(cap.count()));
  const double scaled = capped * std::clamp(jitter, 0.0, 1.0);
  return std::chrono::milliseconds(std::max<std::int64_t>(1, std::llround(scaled)));
}

std::vector<infra::kafka::Header> outbox_headers(const infra::outbox::ClaimedRow& row) {
  std::vector<infra::kafka::Header> out;
  out.push_back({"x-correlation-id", row.correlation_id.value_or("")});
  out.push_back({"x-event-id", row.id});
  out.push_back({"x-event-type", row.event_type});
  if (!row.headers) return out;
  const boost::json::value parsed = boost::json::parse(*row.headers);
  if (!parsed.is_object()) throw std::invalid_argument("outbox headers are not a JSON object");
  for (const auto& [key, value] : parsed.as_object()) {
    std::string k(key);
    // The standard three come from columns and cannot be overridden by the row.
    if (k == "x-correlation-id" || k == "x-event-id" || k == "x-event-type") continue;
    std::string v =
        value.is_string() ? std::string(value.as_string()) : boost::json::serialize(value);
    out.push_back({std::move(k), std::move(v)});
  }
  return out;
}

// One claimed batch from enqueue to settlement (strand only).
struct OutboxPublisher::Batch {
  Batch(const boost::asio::strand<boost::asio::any_io_executor>& strand,
        std::vector<infra::outbox::ClaimedRow> claimed)
      : rows(std::move(claimed)),
        outcomes(rows.size()),
        done(rows.size(), false),
        remaining(rows.size()),
        all_done(strand, asio::steady_timer::time_point::max()) {}

  std::vector<infra::outbox::ClaimedRow> rows;
  std::vector<std::exception_ptr> outcomes;  // null: acknowledged
  std::vector<bool> done;                    // outcome known
  std::size_t remaining;
  asio::steady_timer all_done;  // cancelled when the last outcome arrives
};

struct OutboxPublisher::Metrics {
  explicit Metrics(core::metrics::Registry& r)
      : backlog(r.gauge("ticketd_outbox_backlog",
                        "Outbox rows waiting to be published (PENDING), refreshed about every "
                        "second by the publisher")
                    .get()),
        oldest_age(r.gauge("ticketd_outbox_oldest_pending_age_seconds",
                           "Age of the oldest PENDING outbox row (0 when none)")
                       .get()),
        sent(r.counter("ticketd_outbox_sent_total",
                       "Outbox rows acknowledged by Kafka and marked SENT", {"topic"})),
        retried(r.counter("ticketd_outbox_retried_total",
                          "Failed outbox deliveries scheduled for another attempt", {"topic"})),
        failed(r.counter("ticketd_outbox_failed_total",
                         "Outbox rows marked FAILED after OUTBOX_PUBLISH_MAX_ATTEMPTS", {"topic"})),
        lease_lost(r.counter("ticketd_outbox_lease_lost_total",
                             "Outbox rows this publisher produced but no longer leased when "
                             "settling them (another publisher took them over)")
                       .get()),
        latency(r.histogram("ticketd_outbox_publish_latency_seconds",
                            "Outbox row written (created_at) to acknowledged by Kafka and marked "
                            "SENT",
                            {"topic"},
                            {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
                             30, 60, 300, 1800})),
        purged(r.counter("ticketd_outbox_purged_total",
                         "SENT outbox rows deleted after OUTBOX_RETENTION_HOURS")
                   .get()),
        passes(r.counter("ticketd_worker_passes_total", "Completed passes of background workers",
                         {"worker"})
                   .with({"outbox_publisher"})),
        failures(r.counter("ticketd_worker_failures_total",
                           "Failed passes of background workers (retried next interval)",
                           {"worker"})
                     .with({"outbox_publisher"})) {}

  core::metrics::Gauge& backlog;
  core::metrics::Gauge& oldest_age;
  core::metrics::Family<core::metrics::Counter>& sent;
  core::metrics::Family<core::metrics::Counter>& retried;
  core::metrics::Family<core::metrics::Counter>& failed;
  core::metrics::Counter& lease_lost;
  core::metrics::Family<core::metrics::Histogram>& latency;
  core::metrics::Counter& purged;
  core::metrics::Counter& passes;
  core::metrics::Counter& failures;
};

OutboxPublisher::OutboxPublisher(const asio::any_io_executor& executor, infra::pg::Pool& pool,
                                 infra::kafka::Producer& producer,
                                 std::optional<infra::pg::ConnectOptions> listen, Options options,
                                 core::metrics::Registry& metrics)
    : strand_(asio::make_strand(executor)),
      relay_(pool),
      producer_(producer),
      options_(std::move(options)),
      owner_(fmt::format("{}/{}",
                         options_.instance.empty() ? default_instance() : options_.instance,
                         core::random_hex(6))),
      metrics_(std::make_unique<Metrics>(metrics)),
      timer_(strand_),
      slot_timer_(strand_),
      linger_timer_(strand_) {
  if (listen) {
    infra::pg::Listener::Options lo;
    lo.connect = *listen;
    lo.connect.application_name = "ticketd-outbox-listener";
    lo.channel = std::string(kChannel);
    listener_ = std::make_unique<infra::pg::Listener>(
        executor, std::move(lo), [this] { wake(); }, metrics);
  }
}

OutboxPublisher::~OutboxPublisher() = default;

std::int64_t OutboxPublisher::now_ms() const noexcept {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void OutboxPublisher::start() {
  heartbeat_ms_.store(now_ms());
  last_purge_ms_ = now_ms() - kPurgeEveryMs + 60'000;  // first purge a minute after start
  running_.store(true);
  if (listener_) listener_->start();
  asio::co_spawn(strand_, run(), [](const std::exception_ptr& e) {
    if (!e) return;
    core::log::error("outbox publisher stopped unexpectedly", {{"error", error_text(e)}});
  });
  core::log::info("outbox publisher started",
                  {{"owner", owner_},
                   {"batch", options_.batch_size},
                   {"listen", listener_ != nullptr},
                   {"intervalMs", static_cast<std::int64_t>(options_.interval.count())}});
}

void OutboxPublisher::wake() {
  // At most one wake-up waits in the strand's queue (reservations call this after every commit);
  // it runs after this call, so the pass it triggers sees what the caller committed.
  if (wake_queued_.exchange(true)) return;
  asio::post(strand_, [this] {
    wake_queued_.store(false);
    wake_pending_ = true;
    timer_.cancel();
  });
}

bool OutboxPublisher::listening() const noexcept {
  return listener_ != nullptr && listener_->listening();
}

asio::awaitable<void> OutboxPublisher::run() {
  while (!stopping_.load()) {
    wake_pending_ = false;
    bool failed = false;
    try {
      // Claim and enqueue batch after batch while they come back full; each one settles in
      // the background, at most kMaxBatchesInFlight at a time. Claims stay sequential, so rows
      // are enqueued in outbox order.
      for (;;) {
        while (in_flight_ >= kMaxBatchesInFlight) {
          slot_timer_.expires_at(asio::steady_timer::time_point::max());
          boost::system::error_code ec;
          co_await slot_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        }
        if (stopping_.load()) break;
        std::shared_ptr<Batch> batch = co_await claim_and_produce();
        if (now_ms() - last_backlog_ms_ >= kBacklogRefreshMs) co_await refresh_backlog();
        if (!batch) break;
        const bool full = batch->rows.size() == static_cast<std::size_t>(options_.batch_size);
        ++in_flight_;
        asio::co_spawn(strand_, settle(batch), [this](const std::exception_ptr& e) {
          --in_flight_;
          slot_timer_.cancel();
          if (!e) return;
          metrics_->failures.inc();
          core::log::warn("outbox batch not settled", {{"error", error_text(e)}});
        });
        if (!full || stopping_.load()) break;
      }
      heartbeat_ms_.store(now_ms());
      metrics_->passes.inc();
      co_await maybe_purge();
    } catch (const std::exception& e) {
      // The database may be restarting: the next interval tries again; the heartbeat goes
      // stale and readiness reports it if this lasts.
      failed = true;
      metrics_->failures.inc();
      core::log::warn("outbox publisher pass failed", {{"error", e.what()}});
    }
    if (stopping_.load()) break;
    // Woken while busy: go again after a short linger (but not in a tight loop after a
    // failure). A wake-up during the linger is already covered by the pass that follows.
    if (wake_pending_ && !failed) {
      linger_timer_.expires_after(kBusyLinger);
      boost::system::error_code ec;
      co_await linger_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (!stopping_.load()) continue;
      break;
    }
    // Sleep until the poll, or until the soonest retry scheduled by a failed delivery if that
    // comes first (a retry due now was claimed by the pass that just ran, or by another
    // instance).
    const auto now = asio::steady_timer::clock_type::now();
    if (retry_due_ <= now) retry_due_ = asio::steady_timer::time_point::max();
    timer_.expires_at(std::min(now + options_.interval, retry_due_));
    boost::system::error_code ec;
    co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  // Graceful: the batches in flight settle before the loop reports it has stopped.
  while (in_flight_ > 0) {
    slot_timer_.expires_at(asio::steady_timer::time_point::max());
    boost::system::error_code ec;
    co_await slot_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  running_.store(false);
}

asio::awaitable<std::size_t> OutboxPublisher::publish_batch() {
  // The pass keeps its bookkeeping on the strand, where the produce completions land.
  auto on_strand = pass();
  co_return co_await asio::co_spawn(strand_, std::move(on_strand), asio::use_awaitable);
}

asio::awaitable<std::size_t> OutboxPublisher::pass() {
  std::shared_ptr<Batch> batch = co_await claim_and_produce();
  if (!batch) co_return 0;
  co_await settle(batch);
  co_return batch->rows.size();
}

asio::awaitable<std::shared_ptr<OutboxPublisher::Batch>> OutboxPublisher::claim_and_produce() {
  std::string owner = owner_;
  const auto lease = options_.lease;
  const int limit = options_.batch_size;
  std::vector<infra::outbox::ClaimedRow> rows = co_await relay_.claim(owner, lease, limit);
  std::shared_ptr<Batch> batch;
  if (rows.empty()) co_return batch;
  batch = std::make_shared<Batch>(strand_, std::move(rows));

  // Every row is enqueued now, in order; each completion lands on this strand and the batch
  // stays alive until the last one. A null outcome is an acknowledgement.
  for (std::size_t i = 0; i < batch->rows.size(); ++i) {
    auto& row = batch->rows[i];
    std::vector<infra::kafka::Header> headers;
    try {
      headers = outbox_headers(row);
    } catch (...) {
      batch->outcomes[i] = std::current_exception();
      batch->done[i] = true;
      --batch->remaining;
      continue;
    }
    std::string topic = row.topic;
    std::string key = row.key;
    std::string value = std::move(row.payload);
    asio::co_spawn(
        strand_,
        producer_.produce(std::move(topic), std::move(key), std::move(value), std::move(headers)),
        [batch, i](const std::exception_ptr& e) {
          batch->outcomes[i] = e;
          batch->done[i] = true;
          if (--batch->remaining == 0) batch->all_done.cancel();
        });
  }
  co_return batch;
}

asio::awaitable<void> OutboxPublisher::settle(std::shared_ptr<Batch> batch) {
  co_await await_outcomes(batch);
  std::vector<std::string> acked;
  std::vector<infra::outbox::FailedDelivery> failures;
  for (std::size_t i = 0; i < batch->rows.size(); ++i) {
    const auto& row = batch->rows[i];
    if (!batch->outcomes[i]) {
      acked.push_back(row.id);
      continue;
    }
    const double jitter = 0.5 + 0.5 * static_cast<double>(core::random_below(10'001)) / 10'000.0;
    infra::outbox::FailedDelivery f;
    f.id = row.id;
    f.retry_in =
        outbox_retry_delay(row.attempts + 1, options_.backoff_base, options_.backoff_max, jitter);
    f.error = error_text(batch->outcomes[i]);
    failures.push_back(std::move(f));
  }
  if (!acked.empty()) co_await record_sent(std::move(acked));
  if (!failures.empty()) co_await record_failures(std::move(failures));
}

asio::awaitable<void> OutboxPublisher::await_outcomes(std::shared_ptr<Batch> batch) {
  std::string owner = owner_;
  // A batch the broker keeps waiting (an outage: up to message.timeout.ms) renews its lease
  // every third of it, so neither this publisher's next claims nor another instance take its
  // rows over and send them a second time. A dead publisher stops renewing.
  const auto renew_every = std::max<std::chrono::milliseconds>(options_.lease / 3, 100ms);
  while (batch->remaining > 0) {
    batch->all_done.expires_after(renew_every);
    boost::system::error_code ec;
    co_await batch->all_done.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (batch->remaining == 0 || ec) continue;
    std::vector<std::string> waiting;
    for (std::size_t i = 0; i < batch->rows.size(); ++i) {
      if (!batch->done[i]) waiting.push_back(batch->rows[i].id);
    }
    const auto lease = options_.lease;
    try {
      const std::int64_t renewed = co_await relay_.renew(owner, waiting, lease);
      core::log::info("outbox batch still waiting for the broker; lease renewed",
                      {{"rows", waiting.size()}, {"renewed", renewed}});
    } catch (const std::exception& e) {
      core::log::warn("outbox lease not renewed", {{"error", e.what()}});
    }
  }
}

// SENT for the acknowledged rows still leased to us; the statement is retried a few times,
// since failing it means publishing those rows again after their lease.
asio::awaitable<void> OutboxPublisher::record_sent(std::vector<std::string> acked) {
  std::string owner = owner_;
  std::vector<infra::outbox::SentRow> sent;
  for (int attempt = 1;; ++attempt) {
    std::exception_ptr error;
    try {
      sent = co_await relay_.mark_sent(owner, acked);
      break;
    } catch (...) {
      error = std::current_exception();
    }
    if (attempt >= kAckAttempts) {
      core::log::warn(
          "outbox acknowledgements not recorded; rows will be published again after their lease",
          {{"rows", acked.size()}, {"error", error_text(error)}});
      std::rethrow_exception(error);
    }
    asio::steady_timer pause(strand_, kAckRetryBase * (1 << (attempt - 1)));
    boost::system::error_code ec;
    co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  for (const auto& s : sent) {
    metrics_->sent.with({s.topic}).inc();
    metrics_->latency.with({s.topic}).observe(s.age_seconds);
  }
  if (sent.size() < acked.size()) {
    const auto lost = acked.size() - sent.size();
    metrics_->lease_lost.inc(static_cast<double>(lost));
    core::log::warn("outbox rows published after their lease was taken over",
                    {{"rows", lost}, {"owner", owner}});
  }
}

// A retry later for each failed row, or FAILED for good at max attempts.
asio::awaitable<void> OutboxPublisher::record_failures(
    std::vector<infra::outbox::FailedDelivery> failures) {
  std::string owner = owner_;
  const std::string first_error = failures.front().error;
  auto soonest = failures.front().retry_in;
  for (const auto& f : failures) soonest = std::min(soonest, f.retry_in);
  const int max_attempts = options_.max_attempts;
  const std::size_t failed_count = failures.size();
  auto settled = co_await relay_.mark_failed(owner, std::move(failures), max_attempts);
  std::size_t dead = 0;
  for (const auto& s : settled) {
    if (s.dead) {
      ++dead;
      metrics_->failed.with({s.topic}).inc();
      core::log::error("outbox row FAILED after max attempts",
                       {{"outboxId", s.id}, {"topic", s.topic}, {"attempts", s.attempts}});
    } else {
      metrics_->retried.with({s.topic}).inc();
    }
  }
  if (settled.size() < failed_count) {
    metrics_->lease_lost.inc(static_cast<double>(failed_count - settled.size()));
  }
  core::log::warn("outbox deliveries failed",
                  {{"rows", failed_count}, {"dead", dead}, {"error", first_error}});
  // The main loop may be asleep for a whole poll interval: wake it so it sleeps until the retry.
  const auto due = asio::steady_timer::clock_type::now() + soonest;
  if (dead < settled.size() && due < retry_due_) {
    retry_due_ = due;
    if (timer_.expiry() > due) timer_.cancel();
  }
}

asio::awaitable<void> OutboxPublisher::refresh_backlog() {
  last_backlog_ms_ = now_ms();
  try {
    const auto b = co_await relay_.backlog(kBacklogCap);
    metrics_->backlog.set(static_cast<double>(b.pending));
    metrics_->oldest_age.set(b.oldest_age_seconds);
  } catch (const std::exception& e) {
    core::log::debug("outbox backlog not refreshed", {{"error", e.what()}});
  }
}

asio::awaitable<void> OutboxPublisher::maybe_purge() {
  if (options_.retention.count() <= 0 && options_.purges.empty()) co_return;
  if (now_ms() - last_purge_ms_ < kPurgeEveryMs) co_return;
  last_purge_ms_ = now_ms();
  std::int64_t total = 0;
  for (int i = 0; options_.retention.count() > 0 && i < kPurgeBatchesPerRound && !stopping_.load();
       ++i) {
    const std::int64_t n = co_await relay_.purge_sent(options_.retention, kPurgeBatch);
    total += n;
    if (n < kPurgeBatch) break;
  }
  metrics_->purged.inc(static_cast<double>(total));
  if (total > 0) core::log::info("outbox rows purged", {{"rows", total}});
  for (const auto& purge : options_.purges) {
    std::int64_t rows = 0;
    for (int i = 0; i < kPurgeBatchesPerRound && !stopping_.load(); ++i) {
      const std::int64_t n = co_await purge.batch(kPurgeBatch);
      rows += n;
      if (n < kPurgeBatch) break;
    }
    if (rows > 0) core::log::info("rows purged", {{"what", purge.what}, {"rows", rows}});
  }
}

asio::awaitable<void> OutboxPublisher::stop() {
  stopping_.store(true);
  asio::post(strand_, [this] {
    timer_.cancel();
    linger_timer_.cancel();
  });
  if (listener_) co_await listener_->stop();
  co_await core::until_cleared(running_);
  // Handlers posted to the strand before this point (wake-ups) have run once this returns.
  co_await asio::post(strand_, asio::use_awaitable);
  core::log::info("outbox publisher stopped", {{"owner", owner_}});
}

bool OutboxPublisher::healthy() const noexcept {
  const std::int64_t allowed =
      std::max<std::int64_t>(5 * options_.interval.count(), 10'000) + options_.lease.count();
  return now_ms() - heartbeat_ms_.load() <= allowed;
}

std::string OutboxPublisher::describe() const {
  return fmt::format("last pass {} ms ago; {}", now_ms() - heartbeat_ms_.load(),
                     listening() ? "listening" : "polling only");
}

}  // namespace ticketd::workers
