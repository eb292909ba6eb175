#pragma once
// Shared pieces of the Kafka integration tests: broker address, unique names, a two-thread
// io_context and deadline-bounded waiting.
#include <gtest/gtest.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <cstdlib>
#include <future>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "infra/kafka/admin.hpp"
#include "infra/kafka/options.hpp"

namespace ticketd::infra::kafka::testing {

using namespace std::chrono_literals;

inline std::string brokers() {
  const char* env = std::getenv("KAFKA_BROKERS");
  return env && *env ? env : "127.0.0.1:9092";
}

inline Options test_options() {
  Options options;
  options.brokers = brokers();
  options.client_id = "ticketd-kafkatest";
  return options;
}

// A name no other test run shares, so tests never see each other's data.
inline std::string unique_name(std::string_view prefix) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  constexpr std::string_view kHex = "0123456789abcdef";
  std::string out = "ticketd-test-" + std::string(prefix) + "-";
  for (int i = 0; i < 12; ++i) out.push_back(kHex[rng() % kHex.size()]);
  return out;
}

// Polls `condition` until it holds or `timeout` passes; returns its last value.
template <typename Condition>
bool eventually(Condition condition, std::chrono::milliseconds timeout,
                std::chrono::milliseconds step = 20ms) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(step);
  }
}

// An io_context run by two threads for the lifetime of the object, like the server's.
class IoThreads {
 public:
  explicit IoThreads(int threads = 2) : work_(boost::asio::make_work_guard(ctx_)) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { ctx_.run(); });
  }
  ~IoThreads() {
    work_.reset();
    ctx_.stop();
    for (auto& t : threads_) t.join();
  }
  IoThreads(const IoThreads&) = delete;
  IoThreads& operator=(const IoThreads&) = delete;

  boost::asio::io_context& context() { return ctx_; }
  boost::asio::any_io_executor executor() { return ctx_.get_executor(); }

  // Runs the coroutine on the pool and waits for it from the test thread; throws what the
  // coroutine threw, or std::runtime_error when it did not finish in time.
  template <typename T>
  T run(boost::asio::awaitable<T> task, std::chrono::milliseconds timeout) {
    auto future = boost::asio::co_spawn(ctx_, std::move(task), boost::asio::use_future);
    if (future.wait_for(timeout) != std::future_status::ready) {
      throw std::runtime_error("coroutine did not finish in time");
    }
    return future.get();
  }

 private:
  boost::asio::io_context ctx_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::vector<std::thread> threads_;
};

// Creates a uniquely named topic for one test and deletes it afterwards.
class ScopedTopic {
 public:
  ScopedTopic(std::string_view prefix, int partitions)
      : admin_(test_options()), name_(unique_name(prefix)) {
    admin_.ensure_topics({name_}, partitions, 1, 30s);
  }
  ~ScopedTopic() {
    try {
      admin_.delete_topics({name_}, 15s);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "deleting topic " << name_ << ": " << e.what();
    }
  }
  ScopedTopic(const ScopedTopic&) = delete;
  ScopedTopic& operator=(const ScopedTopic&) = delete;

  const std::string& name() const { return name_; }
  Admin& admin() { return admin_; }

 private:
  Admin admin_;
  std::string name_;
};

}  // namespace ticketd::infra::kafka::testing
