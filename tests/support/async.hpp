#pragma once
// Runs a coroutine to completion on a private io_context with `threads` threads and returns its
// result (or rethrows its exception). Tests stay synchronous while the code under test is not.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_future.hpp>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace ticketd::testing {

class AsyncRunner {
 public:
  explicit AsyncRunner(int threads = 2) : ioc_(threads), work_(ioc_.get_executor()) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { ioc_.run(); });
  }
  ~AsyncRunner() {
    work_.reset();
    ioc_.stop();
    for (auto& t : threads_) t.join();
  }
  boost::asio::io_context& ioc() { return ioc_; }

  // Runs `make()` (a function returning awaitable<T>) on a strand and waits for it.
  template <typename Make>
  auto run(Make make) {
    auto fut =
        boost::asio::co_spawn(boost::asio::make_strand(ioc_), make(), boost::asio::use_future);
    return fut.get();
  }

 private:
  boost::asio::io_context ioc_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::vector<std::thread> threads_;
};

inline std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : std::string(fallback);
}

inline std::string test_database_url() {
  return env_or("TEST_DATABASE_URL", "postgres://ticketd:ticketd@127.0.0.1:5555/ticketd_test");
}

}  // namespace ticketd::testing
