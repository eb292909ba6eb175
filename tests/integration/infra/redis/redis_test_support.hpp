#pragma once
// Helpers for the Redis integration tests: an io_context run by two threads around one test
// coroutine, polling with deadlines, unique names, and a private redis-server the test may kill.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "core/ids.hpp"
#include "core/metrics.hpp"
#include "infra/redis/client.hpp"
#include "infra/redis/metrics.hpp"
#include "infra/redis/options.hpp"
#include "infra/redis/subscriber.hpp"

namespace ticketd::infra::redis::testing {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

inline std::string redis_url() {
  const char* url = std::getenv("REDIS_URL");
  return url != nullptr && *url != '\0' ? url : "redis://127.0.0.1:6379";
}

// Keys and channels no other test (or concurrent run) uses.
inline std::string unique_name(const std::string& what) {
  return "ticketd-test:" + std::to_string(::getpid()) + ":" + core::random_hex(6) + ":" + what;
}

// GoogleTest's ASSERT_* returns, which a coroutine cannot; this throws and fails the test.
inline void require(bool ok, const std::string& what) {
  if (!ok) throw std::runtime_error("requirement failed: " + what);
}

// A port nobody listens on right now (bind to 0, read it back, close).
inline int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("bind() failed");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

// Polls `done` every few milliseconds until it holds; throws when `timeout` passes first.
inline asio::awaitable<void> wait_until(std::function<bool()> done,
                                        std::chrono::milliseconds timeout, std::string what) {
  const auto deadline = Clock::now() + timeout;
  asio::steady_timer timer(co_await asio::this_coro::executor);
  while (!done()) {
    if (Clock::now() >= deadline) throw std::runtime_error("timed out waiting for " + what);
    timer.expires_after(5ms);
    co_await timer.async_wait(asio::use_awaitable);
  }
}

// One io_context on two threads around one test coroutine. Components made through it are
// started at once and stopped when the coroutine ends, however it ends; run() then checks that
// the io_context ran out of work by itself (nothing leaked after stop()).
class Harness {
 public:
  Harness() : metrics_(registry_) {}

  asio::io_context& io() { return io_; }
  core::metrics::Registry& registry() { return registry_; }
  Metrics& metrics() { return metrics_; }

  std::shared_ptr<Client> client(Options options) {
    auto c = Client::create(io_.get_executor(), std::move(options), metrics_);
    c->start();
    on_finish([c] { c->stop(); });
    return c;
  }

  std::shared_ptr<Subscriber> subscriber(Options options, Subscriber::MessageHandler on_message,
                                         Subscriber::StateHandler on_state) {
    auto s = Subscriber::create(io_.get_executor(), std::move(options), metrics_,
                                std::move(on_message), std::move(on_state));
    s->start();
    on_finish([s] { s->stop(); });
    return s;
  }

  // Runs when the test coroutine has finished, before run() waits for the threads.
  void on_finish(std::function<void()> fn) {
    std::lock_guard lock(mutex_);
    finishers_.push_back(std::move(fn));
  }

  void run(asio::awaitable<void> test, std::chrono::seconds timeout = 60s) {
    std::exception_ptr failure;
    asio::co_spawn(io_, std::move(test), [&](const std::exception_ptr& e) {
      failure = e;
      std::vector<std::function<void()>> finishers;
      {
        std::lock_guard lock(mutex_);
        finishers.swap(finishers_);
      }
      for (auto& f : finishers) f();
    });
    std::promise<void> all_done;
    auto done = all_done.get_future();
    std::thread t1([this] { io_.run(); });
    std::thread t2([this, p = std::move(all_done)]() mutable {
      io_.run();
      p.set_value();
    });
    const bool finished = done.wait_for(timeout) == std::future_status::ready;
    if (!finished) io_.stop();
    t1.join();
    t2.join();
    if (!finished) ADD_FAILURE() << "io_context still had work after the test (hang or leak)";
    if (failure) {
      try {
        std::rethrow_exception(failure);
      } catch (const std::exception& e) {
        ADD_FAILURE() << "test coroutine threw: " << e.what();
      }
    }
  }

 private:
  asio::io_context io_;
  core::metrics::Registry registry_;
  Metrics metrics_;
  std::mutex mutex_;
  std::vector<std::function<void()>> finishers_;
};

// A redis-server of our own on a free port, which the test may kill and start again.
class PrivateRedis {
 public:
  explicit PrivateRedis(std::vector<std::string> extra_args = {})
      : port_(free_port()), extra_args_(std::move(extra_args)) {}
  ~PrivateRedis() { kill(); }
  PrivateRedis(const PrivateRedis&) = delete;
  PrivateRedis& operator=(const PrivateRedis&) = delete;

  int port() const { return port_; }
  std::string url(const std::string& credentials = "", int db = 0) const {
    return "redis://" + (credentials.empty() ? "" : credentials + "@") +
           "127.0.0.1:" + std::to_string(port_) + "/" + std::to_string(db);
  }

  // Spawns the server (non-blocking); callers poll for readiness.
  void start() {
    std::vector<std::string> args = {"redis-server",
                                     "--port",
                                     std::to_string(port_),
                                     "--bind",
                                     "127.0.0.1",
                                     "--save",
                                     "",
                                     "--appendonly",
                                     "no",
                                     "--daemonize",
                                     "no",
                                     "--dir",
                                     "/tmp",
                                     "--loglevel",
                                     "warning"};
    args.insert(args.end(), extra_args_.begin(), extra_args_.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    const int rc = posix_spawnp(&pid_, "redis-server", &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) throw std::runtime_error("cannot spawn redis-server");
  }

  // SIGKILL: the server vanishes like a crash, connections get reset.
  void kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  // Blocking readiness probe for use before the io_context runs: TCP connect + PING.
  bool wait_ready(std::chrono::milliseconds timeout) const {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      addr.sin_port = htons(static_cast<uint16_t>(port_));
      if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
        const char ping[] = "PING\r\n";
        char buf[64] = {};
        if (::write(fd, ping, sizeof ping - 1) > 0 && ::read(fd, buf, sizeof buf - 1) > 0) {
          ::close(fd);
          // "-NOAUTH" also proves it is up.
          if (buf[0] == '+' || buf[0] == '-') return true;
        } else {
          ::close(fd);
        }
      } else {
        ::close(fd);
      }
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

 private:
  int port_;
  std::vector<std::string> extra_args_;
  pid_t pid_ = -1;
};

inline Options fast_reconnect(Options options) {
  options.reconnect_min = 20ms;
  options.reconnect_max = 250ms;
  options.connect_timeout = 500ms;
  return options;
}

}  // namespace ticketd::infra::redis::testing
