#pragma once
// HTTP/1.1 server on Beast: one coroutine per connection, keep-alive, header/body/idle
// timeouts, per-route body limits, a connection cap, and graceful shutdown (stop accepting,
// close idle connections, let in-flight requests finish).
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
#include "http/dispatcher.hpp"

namespace ticketd::http {

struct ServerOptions {
  std::string host = "0.0.0.0";
  std::uint16_t port = 3000;  // 0 = any free port (tests)
  std::size_t body_limit = 1 << 20;
  std::size_t header_limit = 16 * 1024;
  std::chrono::milliseconds header_timeout{10'000};
  std::chrono::milliseconds body_timeout{30'000};
  std::chrono::milliseconds idle_timeout{60'000};
  std::chrono::milliseconds write_timeout{30'000};
  int max_connections = 10'000;
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
  // Answers a request the dispatcher never saw (bad framing, body too large); the caller closes.
  boost::asio::awaitable<void> reject(Session& session, const std::string& remote_ip,
                                      bhttp::request<bhttp::string_body> head, core::ApiError err);
  // Hands the connection to the event stream of `res` until it ends.
  boost::asio::awaitable<void> run_stream(Session& session, const Request& req, Response res);
  void unregister(std::uint64_t id);

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
  std::mutex sessions_mutex_;
  std::unordered_map<std::uint64_t, std::weak_ptr<Session>> sessions_;
  core::metrics::Gauge& connections_;
  core::metrics::Counter& rejected_;
};

}  // namespace ticketd::http
