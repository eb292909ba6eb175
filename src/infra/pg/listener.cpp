#include "infra/pg/listener.hpp"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <stdexcept>

#include "core/async.hpp"
#include "core/log.hpp"

namespace ticketd::infra::pg {

namespace asio = boost::asio;

namespace {

bool plain_identifier(const std::string& s) {
  if (s.empty() || s.size() > 63) return false;
  auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  if (!alpha(s.front())) return false;
  return std::all_of(s.begin(), s.end(),
                     [&](char c) { return alpha(c) || (c >= '0' && c <= '9'); });
}

}  // namespace

Listener::Listener(const asio::any_io_executor& executor, Options options,
                   std::function<void()> on_notify, core::metrics::Registry& metrics)
    : strand_(asio::make_strand(executor)),
      options_(std::move(options)),
      on_notify_(std::move(on_notify)),
      backoff_timer_(strand_),
      notifications_(metrics
                         .counter("ticketd_db_listen_notifications_total",
                                  "NOTIFY messages received by LISTEN connections", {"channel"})
                         .with({options_.channel})),
      reconnects_(metrics
                      .counter("ticketd_db_listen_connects_total",
                               "LISTEN connections established (the first and every reconnect)",
                               {"channel"})
                      .with({options_.channel})) {
  if (!plain_identifier(options_.channel)) {
    throw std::invalid_argument("LISTEN channel must be a plain SQL identifier");
  }
}

Listener::~Listener() = default;

void Listener::start() {
  running_.store(true);
  asio::co_spawn(strand_, run(), [](const std::exception_ptr& e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      core::log::error("postgres listener stopped unexpectedly", {{"error", ex.what()}});
    }
  });
}

asio::awaitable<void> Listener::run() {
  auto backoff = options_.backoff_min;
  while (!stopping_.load()) {
    const auto connects_before = connects_.load();
    try {
      co_await listen_once();
    } catch (const std::exception& e) {
      if (!stopping_.load()) {
        core::log::warn("postgres listener disconnected; reconnecting",
                        {{"channel", options_.channel},
                         {"error", e.what()},
                         {"retryInMs", static_cast<std::int64_t>(backoff.count())}});
      }
    }
    listening_.store(false);
    conn_.reset();
    if (stopping_.load()) break;
    // A connection that worked starts the next series of attempts from the shortest delay.
    if (connects_.load() != connects_before) backoff = options_.backoff_min;
    backoff_timer_.expires_after(backoff);
    boost::system::error_code ec;
    co_await backoff_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    backoff = std::min(backoff * 2, options_.backoff_max);
  }
  running_.store(false);
}

asio::awaitable<void> Listener::listen_once() {
  asio::any_io_executor executor = strand_;
  auto conn = co_await Connection::connect(executor, options_.connect);
  conn_ = std::move(conn);
  if (stopping_.load()) co_return;
  const std::string listen = "LISTEN " + options_.channel;
  co_await conn_->exec(listen);
  listening_.store(true);
  connects_.fetch_add(1);
  reconnects_.inc();
  core::log::info("postgres listener subscribed", {{"channel", options_.channel}});
  // Whatever was notified while no connection listened is lost: wake the user once.
  on_notify_();
  while (!stopping_.load()) {
    auto batch = co_await conn_->wait_notifications();
    if (batch.empty()) continue;
    notifications_.inc(static_cast<double>(batch.size()));
    on_notify_();
  }
}

asio::awaitable<void> Listener::stop() {
  stopping_.store(true);
  asio::post(strand_, [this] {
    backoff_timer_.cancel();
    if (conn_) conn_->cancel_wait();
  });
  co_await core::until_cleared(running_);
}

}  // namespace ticketd::infra::pg
