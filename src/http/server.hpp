#pragma once
// HTTP/1.1 server on Beast: one coroutine per connection, keep-alive, header/body/idle
// timeouts, per-route body limits, connection caps (in all and per client address), and
// graceful shutdown (stop accepting, close idle connections, let in-flight requests finish).
// A request is admitted on its head (route, caller, the route's authorizer) before its body is
// read: whoever may not use a route cannot make the server read megabytes first.
#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "core/errors.hpp"
#include "core/metrics.hpp"
#include "core/trusted_proxies.hpp"
#include "http/dispatcher.hpp"

namespace ticketd::http {

struct ServerOptions {
  std::string host = "0.0.0.0";
  std::uint16_t port = 3000;  // 0 = any free port (tests)
  std::size_t body_limit = 1 << 20;
  std::size_t header_limit = 16 * 1024;
  // Every request head (the first and each one on a kept-alive connection) must arrive within
  // this from its first byte; an idle keep-alive connection waits idle_timeout for that byte.
  std::chrono::milliseconds header_timeout{10'000};
  std::chrono::milliseconds body_timeout{30'000};
  std::chrono::milliseconds idle_timeout{60'000};
  std::chrono::milliseconds write_timeout{30'000};
  int max_connections = 10'000;      // past it: 503 + Retry-After, then close
  int max_connections_per_ip = 256;  // past it: 429 + Retry-After, then close
  // Whose X-Forwarded-For names the client (Request::remote_ip). The connection caps count
  // socket addresses: they run before any header is read.
  core::TrustedProxies trusted_proxies;
};

class Server {
 public:
  Server(boost::asio::io_context& ioc, ServerOptions options, Dispatcher& dispatcher,
         core::metrics::Registry& metrics);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and starts accepting. Throws std::system_error when the address is taken.
  void start();
  // The bound port (after start()).
  std::uint16_t port() const noexcept { return bound_port_; }

  // Stops accepting and closes idle keep-alive connections; requests in flight finish and
  // their connections close after the response. Safe from any thread.
  void begin_shutdown();
  std::size_t open_connections() const noexcept { return open_.load(); }
  bool draining() const noexcept { return draining_.load(); }
  // True once, after begin_shutdown(), the accept loop and every connection have finished: only
  // then may the server be destroyed while the io_context still runs.
  bool stopped() const noexcept { return !accepting_.load() && open_.load() == 0; }

 private:
  struct Session;
  boost::asio::awaitable<void> accept_loop();
  boost::asio::awaitable<void> serve(std::shared_ptr<Session> session);
  // Answers a connection over a cap with `err` (503 or 429) and closes it.
  boost::asio::awaitable<void> turn_away(boost::asio::ip::tcp::socket socket, core::ApiError err);
  // Answers with the error envelope (bad framing, body too large), counted and logged with
  // `req`; the caller closes.
  boost::asio::awaitable<void> reject(Session& session, Request& req, core::ApiError err);
  // Hands the connection to the event stream of `res` until it ends.
  boost::asio::awaitable<void> run_stream(Session& session, const Request& req, Response res);
  // Removes the session and its share of its address's connection count.
  void unregister(std::uint64_t id, const std::string& remote_ip);
  // The request's client address: the socket peer, or what trusted proxies forwarded.
  std::string client_ip(const bhttp::request_header<>& head, const std::string& peer) const;

  boost::asio::io_context& ioc_;
  ServerOptions options_;
  Dispatcher& dispatcher_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::uint16_t bound_port_ = 0;
  std::size_t max_body_limit_ = 0;
  std::atomic<bool> draining_{false};
  std::atomic<bool> accepting_{false};
  std::atomic<std::size_t> open_{0};
  std::atomic<std::uint64_t> next_id_{1};
  std::atomic<int> turning_away_{0};
  std::mutex sessions_mutex_;
  std::unordered_map<std::uint64_t, std::weak_ptr<Session>> sessions_;
  std::unordered_map<std::string, int> per_ip_;  // open connections per client address
  core::metrics::Gauge& connections_;
  core::metrics::Family<core::metrics::Counter>& rejected_;
};

}  // namespace ticketd::http
