#pragma once
// One libpq connection in non-blocking mode, its socket waited on by Asio. Used by one
// coroutine at a time (the pool hands it out exclusively). Prepared statements are created on
// first use per connection and remembered.
#include <libpq-fe.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "infra/pg/params.hpp"
#include "infra/pg/result.hpp"

namespace ticketd::infra::pg {

// A named SQL constant, prepared per connection under `name`.
struct Statement {
  std::string_view name;
  std::string_view sql;
};

// One NOTIFY received on a LISTENing connection.
struct Notification {
  std::string channel;
  std::string payload;
  int backend_pid = 0;  // the notifying session
};

struct ConnectOptions {
  std::string url;  // postgres://user:pass@host:port/db
  std::chrono::milliseconds connect_timeout{3'000};
  std::chrono::milliseconds statement_timeout{5'000};
  std::chrono::milliseconds lock_timeout{0};  // 0 = PostgreSQL default (none)
  std::string application_name = "ticketd";
};

class Connection {
 public:
  // Connects asynchronously. Throws DbError (kUnavailable) when the server cannot be reached
  // within connect_timeout.
  static boost::asio::awaitable<std::unique_ptr<Connection>> connect(
      boost::asio::any_io_executor ex, const ConnectOptions& options);

  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs a prepared statement (prepared on first use). Throws DbError on any failure.
  boost::asio::awaitable<Result> query(const Statement& stmt, const Params& params = Params{});
  // Runs SQL text with parameters (unnamed statement; for one-off statements).
  boost::asio::awaitable<Result> query_text(std::string_view sql, const Params& params = Params{});
  // Runs one or more statements without parameters (simple query protocol: BEGIN, COMMIT,
  // migrations). Returns the last result.
  boost::asio::awaitable<Result> exec(std::string_view sql);

  // LISTEN support: returns the notifications libpq has already buffered, or else waits until
  // the socket is readable, consumes the input and returns what arrived (possibly nothing: a
  // wake-up by cancel_wait() or by other server messages). Throws DbError (kUnavailable) when
  // the connection is lost. Only for a connection that runs no query at the same time.
  boost::asio::awaitable<std::vector<Notification>> wait_notifications();
  // Makes a pending wait_notifications() return (empty) now. Call it on the executor that runs
  // the wait (it touches the socket).
  void cancel_wait() noexcept;

  // False once the connection was lost or left in an unknown protocol state; the pool discards it.
  bool healthy() const noexcept;
  void mark_broken() noexcept { broken_ = true; }
  // Non-blocking check for a connection the server closed while it sat idle (restart,
  // idle timeout): reads whatever is pending without waiting.
  bool still_alive() noexcept;
  // When the pool last took it back (steady clock); set by the pool.
  std::chrono::steady_clock::time_point released_at() const noexcept { return released_at_; }
  void set_released_at(std::chrono::steady_clock::time_point t) noexcept { released_at_ = t; }
  // True inside an open transaction block.
  bool in_transaction() const noexcept;

  PGconn* native() const noexcept { return conn_; }

 private:
  Connection(boost::asio::any_io_executor ex, PGconn* conn);
  boost::asio::awaitable<void> flush();
  boost::asio::awaitable<Result> collect();
  void attach_socket();
  [[noreturn]] void fail(const std::string& what);
  std::vector<Notification> take_notifications();

  boost::asio::any_io_executor ex_;
  PGconn* conn_ = nullptr;
  boost::asio::posix::stream_descriptor socket_;
  std::unordered_set<std::string_view> prepared_;
  bool broken_ = false;
  std::chrono::steady_clock::time_point released_at_{};
};

}  // namespace ticketd::infra::pg
