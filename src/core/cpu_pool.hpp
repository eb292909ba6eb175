#pragma once
// A small bounded pool for CPU-heavy work (password hashing) so it never runs on an I/O thread.
// When `max_pending` jobs are already queued or running, run() fails at once with 503
// (kUnavailable, CPU_POOL_BUSY, Retry-After 1) instead of queueing without bound.
#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstddef>
#include <exception>
#include <functional>

#include "core/errors.hpp"
#include "core/metrics.hpp"

namespace ticketd::core {

class CpuPool {
 public:
  CpuPool(std::size_t threads, std::size_t max_pending, metrics::Registry& metrics,
          const std::string& name);
  ~CpuPool();

  // Runs job() on a pool thread and resumes the caller on its own executor; rethrows what the
  // job threw. Results travel through the job's captures: a plain std::function parameter (not a
  // templated lambda) sidesteps GCC 12's miscompilation of lambda-typed coroutine parameters.
  boost::asio::awaitable<void> run(std::function<void()> job);

 private:
  boost::asio::thread_pool pool_;
  std::size_t max_pending_;
  std::atomic<std::size_t> pending_{0};
  metrics::Counter& rejected_;
};

}  // namespace ticketd::core
