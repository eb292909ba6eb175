#include "infra/pg/connection.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/log.hpp"
#include "infra/pg/errors.hpp"

namespace ticketd::infra::pg {

namespace asio = boost::asio;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

namespace {

// libpq takes parameters as arrays of C strings.
struct RawParams {
  explicit RawParams(const Params& p) {
    ptrs.reserve(p.size());
    for (const auto& v : p.values()) ptrs.push_back(v ? v->c_str() : nullptr);
  }
  int count() const { return static_cast<int>(ptrs.size()); }
  const char* const* data() const { return ptrs.empty() ? nullptr : ptrs.data(); }
  std::vector<const char*> ptrs;
};

}  // namespace

Connection::Connection(asio::any_io_executor ex, PGconn* conn)
    : ex_(std::move(ex)), conn_(conn), socket_(ex_) {}

Connection::~Connection() {
  // libpq owns the descriptor: give it back before PQfinish closes it.
  if (socket_.is_open()) socket_.release();
  if (conn_ != nullptr) PQfinish(conn_);
}

void Connection::attach_socket() {
  const int fd = PQsocket(conn_);
  if (socket_.is_open()) {
    if (socket_.native_handle() == fd) return;
    socket_.release();
  }
  if (fd >= 0) socket_.assign(fd);
}

void Connection::fail(const std::string& what) {
  broken_ = true;
  throw connection_error(what + ": " + PQerrorMessage(conn_));
}

bool Connection::healthy() const noexcept {
  return !broken_ && conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK;
}

bool Connection::still_alive() noexcept {
  if (!healthy()) return false;
  // A server that went away left an error message or EOF in the socket buffer; consuming it
  // flips the status. No data pending is the normal case and costs one failed recv.
  if (PQconsumeInput(conn_) == 0 || PQstatus(conn_) != CONNECTION_OK) {
    broken_ = true;
    return false;
  }
  while (PGnotify* n = PQnotifies(conn_)) PQfreemem(n);
  return true;
}

bool Connection::in_transaction() const noexcept {
  const auto s = PQtransactionStatus(conn_);
  return s == PQTRANS_INTRANS || s == PQTRANS_INERROR;
}

asio::awaitable<std::unique_ptr<Connection>> Connection::connect(asio::any_io_executor ex,
                                                                 const ConnectOptions& o) {
  // Keepalives and tcp_user_timeout bound how long a silently dead server can hang a query;
  // statement_timeout and lock_timeout are session settings sent with the start-up packet.
  std::string options =
      fmt::format("-c statement_timeout={} -c idle_in_transaction_session_timeout={}",
                  o.statement_timeout.count(), 60'000);
  if (o.lock_timeout.count() > 0)
    options += fmt::format(" -c lock_timeout={}", o.lock_timeout.count());
  const std::string connect_timeout =
      std::to_string(std::max<long long>(1, o.connect_timeout.count() / 1000));
  const char* keys[] = {"dbname",
                        "application_name",
                        "options",
                        "connect_timeout",
                        "keepalives",
                        "keepalives_idle",
                        "keepalives_interval",
                        "keepalives_count",
                        "tcp_user_timeout",
                        nullptr};
  const std::string tcp_user_timeout = std::to_string(o.statement_timeout.count() + 5'000);
  const char* values[] = {o.url.c_str(),
                          o.application_name.c_str(),
                          options.c_str(),
                          connect_timeout.c_str(),
                          "1",
                          "10",
                          "5",
                          "3",
                          tcp_user_timeout.c_str(),
                          nullptr};
  PGconn* raw = PQconnectStartParams(keys, values, /*expand_dbname=*/1);
  if (raw == nullptr) throw connection_error("out of memory");
  std::unique_ptr<Connection> c(new Connection(ex, raw));
  // libpq prints notices (and a server's goodbye on shutdown) to stderr by default; route them
  // into the structured log instead.
  PQsetNoticeProcessor(
      raw,
      [](void*, const char* message) {
        std::string_view m(message);
        while (!m.empty() && m.back() == '\n') m.remove_suffix(1);
        core::log::debug("postgres notice", {{"notice", m}});
      },
      nullptr);
  if (PQstatus(raw) == CONNECTION_BAD) c->fail("connect");
  if (PQsetnonblocking(raw, 1) != 0) c->fail("set non-blocking");

  asio::steady_timer deadline(ex, o.connect_timeout);
  bool timed_out = false;
  deadline.async_wait([&timed_out, sock = &c->socket_](boost::system::error_code ec) {
    if (ec) return;
    timed_out = true;
    boost::system::error_code ignored;
    if (sock->is_open()) sock->cancel(ignored);
  });
  PostgresPollingStatusType st = PGRES_POLLING_WRITING;
  for (;;) {
    if (st == PGRES_POLLING_OK) break;
    if (st == PGRES_POLLING_FAILED) {
      deadline.cancel();
      c->fail("connect");
    }
    c->attach_socket();
    auto [ec] = co_await c->socket_.async_wait(st == PGRES_POLLING_READING
                                                   ? asio::posix::stream_descriptor::wait_read
                                                   : asio::posix::stream_descriptor::wait_write,
                                               kTuple);
    if (timed_out) {
      c->broken_ = true;
      throw connection_error("connect timed out");
    }
    if (ec) {
      deadline.cancel();
      c->fail("connect wait: " + ec.message());
    }
    st = PQconnectPoll(raw);
  }
  deadline.cancel();
  c->attach_socket();
  co_return c;
}

asio::awaitable<void> Connection::flush() {
  for (;;) {
    const int r = PQflush(conn_);
    if (r == 0) co_return;
    if (r < 0) fail("send");
    // libpq may need to read (the server can push data while we write) before it can write more.
    auto [ec] = co_await socket_.async_wait(asio::posix::stream_descriptor::wait_write, kTuple);
    if (ec) fail("send wait: " + ec.message());
    if (PQconsumeInput(conn_) == 0) fail("receive");
  }
}

asio::awaitable<Result> Connection::collect() {
  co_await flush();
  Result last;
  std::optional<DbError> error;
  for (;;) {
    while (PQisBusy(conn_) != 0) {
      auto [ec] = co_await socket_.async_wait(asio::posix::stream_descriptor::wait_read, kTuple);
      if (ec) fail("receive wait: " + ec.message());
      if (PQconsumeInput(conn_) == 0) fail("receive");
    }
    PGresult* r = PQgetResult(conn_);
    if (r == nullptr) break;
    Result res(r);
    const auto status = PQresultStatus(r);
    if (status == PGRES_FATAL_ERROR || status == PGRES_BAD_RESPONSE ||
        status == PGRES_NONFATAL_ERROR) {
      if (!error) error.emplace(error_from_result(r));
    } else {
      last = std::move(res);
    }
  }
  if (PQstatus(conn_) != CONNECTION_OK) broken_ = true;
  if (error) throw std::move(*error);
  co_return last;
}

asio::awaitable<Result> Connection::query(const Statement& stmt, const Params& params) {
  if (!healthy()) throw connection_error("connection is not usable");
  if (!prepared_.contains(stmt.name)) {
    const std::string name(stmt.name);
    const std::string sql(stmt.sql);
    if (PQsendPrepare(conn_, name.c_str(), sql.c_str(), 0, nullptr) == 0) fail("prepare");
    co_await collect();
    prepared_.insert(stmt.name);
  }
  const std::string name(stmt.name);
  RawParams raw(params);
  if (PQsendQueryPrepared(conn_, name.c_str(), raw.count(), raw.data(), nullptr, nullptr, 0) == 0) {
    fail("send");
  }
  co_return co_await collect();
}

asio::awaitable<Result> Connection::query_text(std::string_view sql, const Params& params) {
  if (!healthy()) throw connection_error("connection is not usable");
  const std::string text(sql);
  RawParams raw(params);
  if (PQsendQueryParams(conn_, text.c_str(), raw.count(), nullptr, raw.data(), nullptr, nullptr,
                        0) == 0) {
    fail("send");
  }
  co_return co_await collect();
}

std::vector<Notification> Connection::take_notifications() {
  std::vector<Notification> out;
  while (PGnotify* n = PQnotifies(conn_)) {
    std::unique_ptr<PGnotify, decltype(&PQfreemem)> owned(n, &PQfreemem);
    Notification item;
    item.channel = n->relname != nullptr ? n->relname : "";
    item.payload = n->extra != nullptr ? n->extra : "";
    item.backend_pid = n->be_pid;
    out.push_back(std::move(item));
  }
  return out;
}

asio::awaitable<std::vector<Notification>> Connection::wait_notifications() {
  if (!healthy()) throw connection_error("connection is not usable");
  // A query's response may have carried notifications that libpq buffered already.
  std::vector<Notification> pending = take_notifications();
  if (!pending.empty()) co_return pending;
  auto [ec] = co_await socket_.async_wait(asio::posix::stream_descriptor::wait_read, kTuple);
  if (ec == asio::error::operation_aborted) co_return pending;
  if (ec) fail("notification wait: " + ec.message());
  if (PQconsumeInput(conn_) == 0 || PQstatus(conn_) != CONNECTION_OK) fail("receive");
  pending = take_notifications();
  co_return pending;
}

void Connection::cancel_wait() noexcept {
  boost::system::error_code ignored;
  if (socket_.is_open()) socket_.cancel(ignored);
}

asio::awaitable<Result> Connection::exec(std::string_view sql) {
  if (!healthy()) throw connection_error("connection is not usable");
  const std::string text(sql);
  if (PQsendQuery(conn_, text.c_str()) == 0) fail("send");
  co_return co_await collect();
}

}  // namespace ticketd::infra::pg
