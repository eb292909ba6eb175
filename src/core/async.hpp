#pragma once
// Small coroutine helpers shared by the background loops (workers, the alert sampler, the
// LISTEN connection).
#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>

namespace ticketd::core {

// Completes once `flag` reads false, checking every 10 ms: how stop() waits for a loop that runs
// on another strand to notice its stop request and exit (the loop clears its `running_` flag last).
inline boost::asio::awaitable<void> until_cleared(const std::atomic<bool>& flag) {
  auto executor = co_await boost::asio::this_coro::executor;
  boost::asio::steady_timer wait(executor);
  while (flag.load()) {
    wait.expires_after(std::chrono::milliseconds(10));
    co_await wait.async_wait(boost::asio::use_awaitable);
  }
}

}  // namespace ticketd::core
