#pragma once
// A bounded pool of PostgreSQL connections. acquire() hands out an idle connection, opens a new
// one while below max_size, or waits in FIFO order up to wait_timeout and then fails fast with
// 503 (kUnavailable, DB_POOL_TIMEOUT) instead of queueing forever. Connections found dead are
// dropped and replaced, so the pool recovers by itself after a server restart.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "core/listing.hpp"
#include "core/metrics.hpp"
#include "infra/pg/connection.hpp"
#include "infra/pg/errors.hpp"

namespace ticketd::infra::pg {

struct PoolOptions {
  ConnectOptions connect;
  std::size_t max_size = 16;
  std::chrono::milliseconds wait_timeout{2'000};
  std::string name = "main";  // metrics label
};

class Pool;

// Exclusive use of one connection; gives it back (or drops it when broken) on destruction.
class Lease {
 public:
  Lease() = default;
  Lease(Pool* pool, std::unique_ptr<Connection> conn)
      : pool_(pool), conn_(std::move(conn)), acquired_(std::chrono::steady_clock::now()) {}
  Lease(Lease&&) noexcept = default;
  Lease& operator=(Lease&& other) noexcept;
  ~Lease();

  Connection* operator->() const noexcept { return conn_.get(); }
  Connection& operator*() const noexcept { return *conn_; }

 private:
  void give_back() noexcept;
  Pool* pool_ = nullptr;
  std::unique_ptr<Connection> conn_;
  std::chrono::steady_clock::time_point acquired_;
};

// A transaction in progress: the only way to reach a connection inside Pool::transact, and the
// only thing the outbox writer accepts, so a state change and its event cannot be separated.
class Tx {
 public:
  explicit Tx(Connection& conn) : conn_(conn) {}
  boost::asio::awaitable<Result> query(const Statement& stmt, const Params& params = Params{}) {
    return conn_.query(stmt, params);
  }
  boost::asio::awaitable<Result> exec(std::string_view sql) { return conn_.exec(sql); }

 private:
  Connection& conn_;
};

struct PoolStats {
  std::size_t total = 0;
  std::size_t idle = 0;
  std::size_t in_use = 0;
  std::size_t waiters = 0;
  std::size_t max_size = 0;
};

class Pool {
 public:
  Pool(boost::asio::any_io_executor ex, PoolOptions options, core::metrics::Registry& metrics);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // Throws InfraError kUnavailable: DB_POOL_TIMEOUT after wait_timeout, DB_UNAVAILABLE when a
  // new connection cannot be opened, DB_POOL_CLOSED after close().
  boost::asio::awaitable<Lease> acquire();
  // The same, waiting at most `wait` for a connection: hot routes (reserve, checkout, webhooks)
  // answer 503 within tens of milliseconds rather than queue behind a saturated pool.
  boost::asio::awaitable<Lease> acquire(std::chrono::milliseconds wait);

  // One statement on a pooled connection.
  boost::asio::awaitable<Result> query(const Statement& stmt, const Params& params = Params{});
  boost::asio::awaitable<Result> query(const Statement& stmt, const Params& params,
                                       std::chrono::milliseconds wait);

  // The total of a page read with `count(*) OVER ()` in column `column` (every row carries it).
  // A page past the end has no row to carry it: only then `count` runs with `count_params`.
  // `count_params` may be a temporary of the co_await expression (as for query()).
  boost::asio::awaitable<std::int64_t> page_total(const Result& page, int column,
                                                  std::int64_t offset, const Statement& count,
                                                  const Params& count_params);

  // A page of aggregates rendered by SQL: `list` returns the JSON in column 0 and
  // `count(*) OVER ()` in column 1 (its params end with limit and offset, `offset` among them);
  // the total comes from page_total. `count_params` may be a temporary, as above.
  boost::asio::awaitable<core::Listing<std::string>> rendered_page(const Statement& list,
                                                                   const Params& list_params,
                                                                   std::int64_t offset,
                                                                   const Statement& count,
                                                                   const Params& count_params);

  // Runs `body(Tx&)` inside BEGIN … COMMIT; rolls back on any exception and rethrows it.
  // Serialization failures and deadlocks retry the whole body up to `retries` times.
  template <typename Body>
  auto transact(Body&& body, int retries = 2) -> std::invoke_result_t<Body&, Tx&>;

  // Refuses new acquisitions, wakes waiters with DB_POOL_CLOSED, drops idle connections.
  void close();
  PoolStats stats() const;
  // How long a request that starts waiting now would wait: the requests queued ahead of it times
  // the recent time a connection is held (moving average), over the pool size. Queued ahead are
  // the pool's waiters or, when more, the `contenders` beyond the pool's size: requests that
  // hold or will soon ask for a connection (load shedding passes the hot requests past its
  // door). The waiters alone lag a burst by the requests still on their way to acquire().
  std::chrono::microseconds expected_wait(std::size_t contenders = 0) const;

 private:
  friend class Lease;
  struct Waiter;
  void release(std::unique_ptr<Connection> conn, std::chrono::steady_clock::duration held) noexcept;
  void on_waiter_timeout(const std::shared_ptr<Waiter>& w);

  boost::asio::any_io_executor ex_;
  PoolOptions options_;
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<Connection>> idle_;
  std::deque<std::shared_ptr<Waiter>> waiters_;
  std::size_t total_ = 0;  // idle + in use + being opened
  double hold_us_ = 0;     // moving average of how long a lease holds its connection
  bool closed_ = false;

  core::metrics::Histogram& acquire_seconds_;
  core::metrics::Counter& timeouts_;
  core::metrics::Counter& opened_;
  core::metrics::Counter& open_failures_;
  core::metrics::Counter& dropped_;
};

namespace detail {
template <typename T>
struct AwaitableValue;
template <typename T>
struct AwaitableValue<boost::asio::awaitable<T>> {
  using type = T;
};
}  // namespace detail

template <typename Body>
auto Pool::transact(Body&& body, int retries) -> std::invoke_result_t<Body&, Tx&> {
  using T = typename detail::AwaitableValue<std::invoke_result_t<Body&, Tx&>>::type;
  for (int attempt = 0;; ++attempt) {
    Lease lease = co_await acquire();
    std::exception_ptr failure;
    try {
      co_await lease->exec("BEGIN");
      Tx tx(*lease);
      if constexpr (std::is_void_v<T>) {
        co_await body(tx);
        co_await lease->exec("COMMIT");
        co_return;
      } else {
        T value = co_await body(tx);
        co_await lease->exec("COMMIT");
        co_return value;
      }
    } catch (...) {
      failure = std::current_exception();
    }
    // Roll back outside the handler (no co_await in a catch block); a connection whose
    // rollback fails is not trusted again.
    if (lease->healthy() && lease->in_transaction()) {
      try {
        co_await lease->exec("ROLLBACK");
      } catch (...) {
        lease->mark_broken();
      }
    }
    bool retry = false;
    try {
      std::rethrow_exception(failure);
    } catch (const DbError& e) {
      retry = e.is_retryable() && attempt < retries;
      if (!retry) throw;
    }
  }
}

}  // namespace ticketd::infra::pg
