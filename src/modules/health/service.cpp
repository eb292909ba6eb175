#include "modules/health/service.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>
#include <optional>

namespace ticketd::health {

namespace asio = boost::asio;

asio::awaitable<Readiness> Service::readiness() const {
  auto ex = co_await asio::this_coro::executor;
  // Each check reports on a shared channel; results that arrive after the deadline are dropped.
  using Channel = asio::experimental::concurrent_channel<void(boost::system::error_code,
                                                              std::size_t, CheckResult)>;
  auto channel = std::make_shared<Channel>(ex, checks_.size());
  for (std::size_t i = 0; i < checks_.size(); ++i) {
    asio::co_spawn(
        ex,
        [channel, run = checks_[i].run, i]() -> asio::awaitable<void> {
          const auto started = std::chrono::steady_clock::now();
          CheckResult r;
          try {
            r = co_await run();
          } catch (const std::exception&) {
            // Checks promise not to throw; one that does is simply down.
            r = CheckResult{false, "check failed"};
          }
          r.latency_ms =
              std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
                  .count();
          channel->try_send(boost::system::error_code{}, i, std::move(r));
        },
        asio::detached);
  }

  std::vector<std::optional<CheckResult>> results(checks_.size());
  asio::steady_timer deadline(ex, deadline_);
  deadline.async_wait([channel](boost::system::error_code ec) {
    if (!ec) channel->close();
  });
  for (std::size_t got = 0; got < checks_.size(); ++got) {
    auto [ec, idx, r] = co_await channel->async_receive(asio::as_tuple(asio::use_awaitable));
    if (ec) break;  // deadline passed
    results[idx] = std::move(r);
  }
  deadline.cancel();

  Readiness out;
  for (std::size_t i = 0; i < checks_.size(); ++i) {
    CheckResult r = results[i]
                        ? std::move(*results[i])
                        : CheckResult{false, "timed out", static_cast<double>(deadline_.count())};
    out.ok = out.ok && r.ok;
    out.checks.emplace_back(checks_[i].name, std::move(r));
  }
  co_return out;
}

}  // namespace ticketd::health
