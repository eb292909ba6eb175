#pragma once
// The command connection: one pipelined hiredis connection shared by every caller. Callers on any
// thread co_await command(); replies come back in order on the connection's strand and resume each
// caller on its own executor.
#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "infra/redis/metrics.hpp"
#include "infra/redis/options.hpp"
#include "infra/redis/reply.hpp"

struct redisAsyncContext;

namespace ticketd::infra::redis {

class Connection;
class PendingCommand;
struct CommandInstruments;

// One command word or argument: anything a std::string can be made from (literals, strings, views).
template <typename T>
concept CommandArg = std::is_constructible_v<std::string, T>;

class Client : public std::enable_shared_from_this<Client> {
 public:
  // Throws std::invalid_argument for invalid options (see validate()). Nothing connects yet.
  static std::shared_ptr<Client> create(const boost::asio::any_io_executor& executor,
                                        Options options, Metrics& metrics);
  // The same, with the families found or registered in `registry` (which must outlive the client).
  static std::shared_ptr<Client> create(const boost::asio::any_io_executor& executor,
                                        Options options, core::metrics::Registry& registry);

  // Connects in the background and keeps reconnecting (capped exponential backoff with jitter)
  // until stop(). Any thread; a second call does nothing.
  void start();
  // Any thread, idempotent, never blocks. connected() is false on return; shortly after, on the
  // strand, commands in flight fail with REDIS_UNAVAILABLE and the socket is closed. Required
  // before the last reference is dropped: a started client keeps itself alive until stopped.
  void stop();
  // stop(), then completes on the caller's executor once the strand has carried it out: socket
  // closed, commands in flight failed, self-reference dropped. For shutdown: co_await this before
  // stopping the io_context, or the client (and its fd) outlive the loop.
  boost::asio::awaitable<void> async_stop();
  // Any thread: the connection is up (handshake done) and not stopped.
  bool connected() const noexcept;

  // Sends one command (args[0] is its name; arguments are binary-safe) and returns the reply; a
  // Redis error reply is a Reply of type kError, not an exception. Throws core::InfraError
  // {kUnavailable, "REDIS_UNAVAILABLE"} at once when not connected (commands never queue while
  // Redis is down), and when the connection is lost before the reply, when no reply arrives within
  // command_timeout, or when max_in_flight commands are already waiting. Throws
  // std::invalid_argument for an empty `args`. Resumes the caller on its own executor.
  boost::asio::awaitable<Reply> command(std::vector<std::string> args);

  // The same with the arguments spelled out: `co_await client->command("SET", key, value)`.
  // g++ 12 rejects a braced list inside a co_await expression ("array used as initializer"), so
  // `co_await client->command({"PING"})` does not compile there; this form (or a named vector)
  // does.
  template <CommandArg... Args>
  boost::asio::awaitable<Reply> command(Args&&... args) {
    std::vector<std::string> argv;
    argv.reserve(sizeof...(Args));
    (argv.emplace_back(std::forward<Args>(args)), ...);
    return command(std::move(argv));
  }

  // PUBLISH; returns how many subscribers received the message. Throws what command() throws, and
  // core::InfraError {kInternal, "REDIS_ERROR"} when Redis answers with an error.
  boost::asio::awaitable<long long> publish(std::string channel, std::string payload);

  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

 private:
  struct Private {};

 public:
  Client(Private, const boost::asio::any_io_executor& executor, Options options, Metrics& metrics);

 private:
  static void on_reply(redisAsyncContext* ac, void* reply, void* privdata) noexcept;

  void send(std::shared_ptr<PendingCommand> op, const std::vector<std::string>& args);
  void pop_completed();
  void arm_deadline();
  void check_deadlines();
  void on_down(const std::string& reason);

  std::unique_ptr<CommandInstruments> instruments_;
  std::shared_ptr<Connection> connection_;
  std::chrono::milliseconds command_timeout_;
  std::size_t max_in_flight_;

  // Strand-only state. Redis answers in order, so the oldest command is always at the front and
  // a single timer on its deadline covers every command.
  std::deque<std::shared_ptr<PendingCommand>> in_flight_;
  boost::asio::steady_timer deadline_timer_;
  bool deadline_armed_ = false;

  std::atomic<bool> started_{false};
  std::atomic<bool> stopped_{false};
};

}  // namespace ticketd::infra::redis
