#pragma once
// One self-healing connection to Redis, the part Client and Subscriber share: resolve the host off
// the I/O threads, connect, AUTH / SELECT / PING, report "up"; on loss report "down" and retry
// with capped exponential backoff and jitter until stop().
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>

#include "infra/redis/asio_adapter.hpp"
#include "infra/redis/metrics.hpp"
#include "infra/redis/options.hpp"

struct redisAsyncContext;

namespace ticketd::infra::redis {

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  // Called on the strand, never from inside a hiredis callback.
  struct Hooks {
    std::function<void()> on_up;  // handshake done: context() can take commands
    std::function<void(const std::string& reason)> on_down;  // context() is gone (loss or stop)
  };

  // `role` labels metrics and log lines ("command", "subscriber").
  Connection(Strand strand, Options options, std::string role, Metrics& metrics);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Any thread. Starts connecting in the background. The hooks (and whatever they capture) are
  // kept until stop() has run; starting twice or after stop() does nothing.
  void start(Hooks hooks);
  // Any thread, idempotent. up() turns false at once; on the strand the context is freed (its
  // pending reply callbacks run with a NULL reply), on_down runs if the link was up, the hooks
  // are released and no further attempt is made.
  void stop();
  // Strand only. Drops a connection that looks stuck (a command timed out) and reconnects.
  void reset(const std::string& reason);

  // Any thread: the handshake completed and the connection has not been lost or stopped since.
  bool up() const noexcept { return up_.load(std::memory_order_acquire); }
  // Strand only: the live context while up, otherwise null. Fetch it again after every hop; it
  // is freed by hiredis the moment the connection breaks.
  redisAsyncContext* context() const noexcept;

  const Strand& strand() const noexcept { return strand_; }
  const Options& options() const noexcept { return options_; }
  const std::string& role() const noexcept { return role_; }

 private:
  enum class State { kIdle, kResolving, kConnecting, kHandshaking, kUp, kBackoff, kStopped };

  static void on_connect(const redisAsyncContext* ac, int status) noexcept;
  static void on_disconnect(const redisAsyncContext* ac, int status) noexcept;
  static void on_handshake_reply(redisAsyncContext* ac, void* reply, void* privdata) noexcept;

  void begin_attempt();
  void open(const std::string& address);
  void send_handshake();
  void handshake_done(std::uint64_t gen);
  void attempt_failed(std::uint64_t gen, const std::string& reason);
  void context_lost(std::uint64_t gen, const std::string& reason);
  void lost(const std::string& reason);
  void schedule_retry();
  void close_context();
  void do_stop();
  bool connecting() const noexcept;

  Strand strand_;
  Options options_;
  std::string role_;
  std::string target_;  // describe(options_), for logs
  core::metrics::Gauge& up_gauge_;
  core::metrics::Counter& reconnects_;

  // Strand-only state.
  boost::asio::ip::tcp::resolver resolver_;
  boost::asio::steady_timer attempt_timer_;  // connect_timeout of the current attempt
  boost::asio::steady_timer retry_timer_;    // backoff before the next attempt
  State state_ = State::kIdle;
  std::uint64_t gen_ = 0;  // bumped per attempt; stale posted work compares and bails
  redisAsyncContext* ac_ = nullptr;
  bool closing_ = false;  // inside our own redisAsyncFree: its onDisconnect is expected
  int handshake_pending_ = 0;
  bool handshake_failed_ = false;
  bool ever_up_ = false;
  unsigned attempt_ = 0;   // attempts since the last success (drives the backoff)
  unsigned failures_ = 0;  // failed attempts in the current streak (first one logs a warning)
  std::minstd_rand rng_;
  Hooks hooks_;

  std::atomic<bool> up_{false};
  std::atomic<bool> stop_requested_{false};
};

}  // namespace ticketd::infra::redis
