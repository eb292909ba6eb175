#include "infra/pg/pool.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/log.hpp"

namespace ticketd::infra::pg {

namespace asio = boost::asio;

namespace {
// Idle connections older than this are probed for a server that went away before reuse.
constexpr auto kProbeIdleAfter = std::chrono::milliseconds(50);
}  // namespace

// A coroutine waiting for a connection. Whoever removes it from waiters_ (under the mutex)
// sends exactly one message on its channel: a connection, an empty slot to open one, or an
// error. The channel is thread-safe, so release() may run on any thread.
struct Pool::Waiter {
  explicit Waiter(const asio::any_io_executor& ex) : channel(ex, 1), timer(ex) {}
  // (error, connection, may_open): a connection; or may_open = a slot reserved to open one.
  asio::experimental::concurrent_channel<void(boost::system::error_code, Connection*, bool)>
      channel;
  asio::steady_timer timer;
};

Lease& Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    give_back();
    pool_ = other.pool_;
    conn_ = std::move(other.conn_);
    acquired_ = other.acquired_;
    other.pool_ = nullptr;
  }
  return *this;
}

Lease::~Lease() {
  give_back();
}

void Lease::give_back() noexcept {
  if (pool_ != nullptr && conn_) {
    pool_->release(std::move(conn_), std::chrono::steady_clock::now() - acquired_);
  }
  pool_ = nullptr;
}

Pool::Pool(asio::any_io_executor ex, PoolOptions options, core::metrics::Registry& metrics)
    : ex_(std::move(ex)),
      options_(std::move(options)),
      acquire_seconds_(metrics
                           .histogram("ticketd_db_pool_acquire_seconds",
                                      "Time to obtain a pooled PostgreSQL connection", {"pool"})
                           .with({options_.name})),
      timeouts_(metrics
                    .counter("ticketd_db_pool_timeouts_total",
                             "Acquisitions that gave up after DATABASE_POOL_TIMEOUT_MS", {"pool"})
                    .with({options_.name})),
      opened_(metrics
                  .counter("ticketd_db_connections_opened_total", "PostgreSQL connections opened",
                           {"pool"})
                  .with({options_.name})),
      open_failures_(metrics
                         .counter("ticketd_db_connection_failures_total",
                                  "Failed attempts to open a PostgreSQL connection", {"pool"})
                         .with({options_.name})),
      dropped_(metrics
                   .counter("ticketd_db_connections_dropped_total",
                            "Connections discarded because they were broken", {"pool"})
                   .with({options_.name})) {
  auto& size = metrics.gauge("ticketd_db_pool_connections", "Pooled connections by state",
                             {"pool", "state"});
  auto& waiters =
      metrics.gauge("ticketd_db_pool_waiters", "Coroutines waiting for a connection", {"pool"});
  auto& max = metrics.gauge("ticketd_db_pool_max_connections", "Pool size limit", {"pool"});
  metrics.add_collector([this, &size, &waiters, &max] {
    const auto s = stats();
    size.with({options_.name, "idle"}).set(static_cast<double>(s.idle));
    size.with({options_.name, "in_use"}).set(static_cast<double>(s.in_use));
    waiters.with({options_.name}).set(static_cast<double>(s.waiters));
    max.with({options_.name}).set(static_cast<double>(s.max_size));
  });
}

Pool::~Pool() {
  close();
}

asio::awaitable<Lease> Pool::acquire() {
  return acquire(options_.wait_timeout);
}

asio::awaitable<Lease> Pool::acquire(std::chrono::milliseconds wait) {
  constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
  const auto started = std::chrono::steady_clock::now();
  std::shared_ptr<Waiter> waiter;
  {
    std::unique_lock lock(mutex_);
    if (closed_)
      throw core::InfraError(core::ErrorKind::kUnavailable, "DB_POOL_CLOSED", "pool closed");
    while (!idle_.empty()) {
      auto conn = std::move(idle_.back());
      idle_.pop_back();
      // A connection back from use within the last moment was alive then; checking it costs a
      // syscall per request under load, so only connections that sat idle are probed.
      const bool recently_used = started - conn->released_at() < kProbeIdleAfter;
      if (recently_used || conn->still_alive()) {
        lock.unlock();
        acquire_seconds_.observe(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
        co_return Lease(this, std::move(conn));
      }
      --total_;
      dropped_.inc();
    }
    if (total_ < options_.max_size) {
      ++total_;  // reserve a slot; the connection is opened below, outside the lock
    } else {
      waiter = std::make_shared<Waiter>(co_await asio::this_coro::executor);
      waiters_.push_back(waiter);
    }
  }

  if (waiter) {
    waiter->timer.expires_after(wait);
    waiter->timer.async_wait(
        [this, weak = std::weak_ptr<Waiter>(waiter)](boost::system::error_code ec) {
          if (ec) return;
          if (auto w = weak.lock()) on_waiter_timeout(w);
        });
    auto [ec, conn, open_slot] = co_await waiter->channel.async_receive(kTuple);
    waiter->timer.cancel();
    if (ec) {
      if (ec == asio::error::timed_out) {
        timeouts_.inc();
        throw core::InfraError(core::ErrorKind::kUnavailable, "DB_POOL_TIMEOUT",
                               "timed out waiting for a database connection");
      }
      throw core::InfraError(core::ErrorKind::kUnavailable, "DB_POOL_CLOSED", "pool closed");
    }
    acquire_seconds_.observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    if (conn != nullptr) co_return Lease(this, std::unique_ptr<Connection>(conn));
    // Otherwise release() freed a slot for us (open_slot): open a connection below.
    (void)open_slot;
  }

  // A slot is reserved for us: open a connection outside the lock.
  std::unique_ptr<Connection> fresh;
  std::exception_ptr failure;
  try {
    fresh = co_await Connection::connect(ex_, options_.connect);
  } catch (...) {
    failure = std::current_exception();
  }
  if (failure) {
    open_failures_.inc();
    release(nullptr, {});  // frees the slot and lets a waiter try
    std::rethrow_exception(failure);
  }
  opened_.inc();
  acquire_seconds_.observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  co_return Lease(this, std::move(fresh));
}

void Pool::on_waiter_timeout(const std::shared_ptr<Waiter>& w) {
  std::lock_guard lock(mutex_);
  for (auto it = waiters_.begin(); it != waiters_.end(); ++it) {
    if (*it == w) {
      waiters_.erase(it);
      w->channel.try_send(asio::error::timed_out, nullptr, false);
      return;
    }
  }
}

void Pool::release(std::unique_ptr<Connection> conn,
                   std::chrono::steady_clock::duration held) noexcept {
  std::lock_guard lock(mutex_);
  // Weight 1/16: follows a change of load within a few dozen requests, ignores one slow query.
  if (conn) {
    const double us = std::chrono::duration<double, std::micro>(held).count();
    hold_us_ = hold_us_ == 0 ? us : hold_us_ + (us - hold_us_) / 16;
  }
  const bool usable = conn && conn->healthy() && !conn->in_transaction() && !closed_;
  if (conn && !usable) dropped_.inc();
  if (!usable) {
    conn.reset();
    // The slot is free: the first waiter may open a replacement.
    if (!closed_ && !waiters_.empty()) {
      auto w = std::move(waiters_.front());
      waiters_.pop_front();
      w->channel.try_send(boost::system::error_code{}, nullptr, true);
      return;
    }
    --total_;
    return;
  }
  if (!waiters_.empty()) {
    auto w = std::move(waiters_.front());
    waiters_.pop_front();
    w->channel.try_send(boost::system::error_code{}, conn.release(), false);
    return;
  }
  conn->set_released_at(std::chrono::steady_clock::now());
  idle_.push_back(std::move(conn));
}

void Pool::close() {
  std::deque<std::shared_ptr<Waiter>> waiters;
  std::vector<std::unique_ptr<Connection>> idle;
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
    waiters.swap(waiters_);
    idle.swap(idle_);
    total_ -= idle.size();
  }
  for (auto& w : waiters) w->channel.try_send(asio::error::operation_aborted, nullptr, false);
}

std::chrono::microseconds Pool::expected_wait(std::size_t contenders) const {
  std::lock_guard lock(mutex_);
  const std::size_t beyond = contenders > options_.max_size ? contenders - options_.max_size : 0;
  const double us = static_cast<double>(std::max(waiters_.size(), beyond)) * hold_us_ /
                    static_cast<double>(std::max<std::size_t>(1, options_.max_size));
  return std::chrono::microseconds(static_cast<std::int64_t>(us));
}

PoolStats Pool::stats() const {
  std::lock_guard lock(mutex_);
  return PoolStats{total_, idle_.size(), total_ - idle_.size(), waiters_.size(), options_.max_size};
}

asio::awaitable<Result> Pool::query(const Statement& stmt, const Params& params) {
  Lease lease = co_await acquire();
  co_return co_await lease->query(stmt, params);
}

asio::awaitable<Result> Pool::query(const Statement& stmt, const Params& params,
                                    std::chrono::milliseconds wait) {
  Lease lease = co_await acquire(wait);
  co_return co_await lease->query(stmt, params);
}

asio::awaitable<std::int64_t> Pool::page_total(const Result& page, int column, std::int64_t offset,
                                               const Statement& count, const Params& count_params) {
  if (!page.empty()) co_return page.int64(0, column);
  if (offset <= 0) co_return 0;
  const Result c = co_await query(count, count_params);
  co_return c.int64(0, 0);
}

asio::awaitable<core::Listing<std::string>> Pool::rendered_page(const Statement& list,
                                                                const Params& list_params,
                                                                std::int64_t offset,
                                                                const Statement& count,
                                                                const Params& count_params) {
  const Result r = co_await query(list, list_params);
  core::Listing<std::string> out;
  out.items.reserve(static_cast<std::size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) out.items.push_back(r.string(i, 0));
  out.total = co_await page_total(r, 1, offset, count, count_params);
  co_return out;
}

}  // namespace ticketd::infra::pg
