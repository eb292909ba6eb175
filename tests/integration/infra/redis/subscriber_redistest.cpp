// infra/redis Subscriber (with the Client publishing) against the real Redis (REDIS_URL), and the
// reconnect behaviour of both against a private redis-server that the test kills and restarts.
#include <algorithm>
#include <atomic>
#include <mutex>
#include <string_view>
#include <utility>

#include "core/errors.hpp"
#include "integration/infra/redis/redis_test_support.hpp"

namespace ticketd::infra::redis {
namespace {

using namespace testing;  // NOLINT(google-build-using-namespace): test helpers

constexpr std::string_view kProbe = "probe";

// What the handlers saw, written on the subscriber's strand and read by the test coroutine.
class Inbox {
 public:
  Subscriber::MessageHandler message_handler() {
    return [this](std::string_view channel, std::string_view payload) {
      std::lock_guard lock(mutex_);
      messages_.emplace_back(std::string(channel), std::string(payload));
    };
  }
  Subscriber::StateHandler state_handler() {
    return [this](bool up) {
      std::lock_guard lock(mutex_);
      states_.push_back(up);
    };
  }

  // Payloads on `channel` in arrival order, without the subscription probes.
  std::vector<std::string> payloads(std::string_view channel) const {
    std::lock_guard lock(mutex_);
    std::vector<std::string> out;
    for (const auto& [c, p] : messages_) {
      if (c == channel && p != kProbe) out.push_back(p);
    }
    return out;
  }
  std::size_t probes(std::string_view channel) const {
    std::lock_guard lock(mutex_);
    return static_cast<std::size_t>(
        std::count_if(messages_.begin(), messages_.end(),
                      [&](const auto& m) { return m.first == channel && m.second == kProbe; }));
  }
  std::vector<bool> states() const {
    std::lock_guard lock(mutex_);
    return states_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::pair<std::string, std::string>> messages_;
  std::vector<bool> states_;
};

// A channel subscribed after "up" gives no signal; Redis counting us as a receiver does.
asio::awaitable<void> until_subscribed(std::shared_ptr<Client> client, std::string channel) {
  const auto deadline = Clock::now() + 5s;
  asio::steady_timer timer(co_await asio::this_coro::executor);
  while (co_await client->publish(channel, std::string(kProbe)) < 1) {
    require(Clock::now() < deadline, "subscription of " + channel + " confirmed");
    timer.expires_after(5ms);
    co_await timer.async_wait(asio::use_awaitable);
  }
}

asio::awaitable<void> until_unsubscribed(std::shared_ptr<Client> client, std::string channel) {
  const auto deadline = Clock::now() + 5s;
  asio::steady_timer timer(co_await asio::this_coro::executor);
  while (co_await client->publish(channel, std::string(kProbe)) != 0) {
    require(Clock::now() < deadline, "unsubscription of " + channel + " confirmed");
    timer.expires_after(5ms);
    co_await timer.async_wait(asio::use_awaitable);
  }
}

TEST(RedisSubscriber, PublishSubscribeRoundTripDeliversAllMessagesInOrder) {
  Inbox inbox;
  Harness h;
  const Options options = parse_url(redis_url());
  auto client = h.client(options);
  auto sub = h.subscriber(options, inbox.message_handler(), inbox.state_handler());
  const std::string channel = unique_name("events");
  sub->subscribe(channel);
  h.run([](std::shared_ptr<Client> client, std::shared_ptr<Subscriber> sub, Inbox& inbox,
           std::string channel) -> asio::awaitable<void> {
    co_await wait_until([&] { return client->connected() && sub->connected(); }, 5s, "connected");
    co_await until_subscribed(client, channel);

    constexpr int kMessages = 100;
    std::vector<std::string> sent;
    for (int i = 0; i < kMessages; ++i) {
      // Binary-safe payloads: a NUL and CR LF in every one.
      sent.push_back("m" + std::to_string(i) + std::string("\0\r\n", 3));
      EXPECT_EQ(co_await client->publish(channel, sent.back()), 1);
    }
    co_await wait_until([&] { return inbox.payloads(channel).size() >= kMessages; }, 10s,
                        "100 messages");
    EXPECT_EQ(inbox.payloads(channel), sent);

    co_await sub->async_stop();
    EXPECT_FALSE(sub->connected());
    EXPECT_EQ(inbox.states(), (std::vector<bool>{true, false}));
    co_await until_unsubscribed(client, channel);  // the server dropped the connection
    co_await client->async_stop();
    EXPECT_FALSE(client->connected());
  }(client, sub, inbox, channel));
  EXPECT_GE(h.metrics().messages_received.get().value(), 100);
  EXPECT_EQ(h.metrics().subscribed_channels.get().value(), 0);
  EXPECT_EQ(h.metrics().connection_up.with({"subscriber"}).value(), 0);
}

TEST(RedisSubscriber, WhenSubscribedFiresOnceRedisConfirmedTheChannel) {
  Inbox inbox;
  Harness h;
  const Options options = parse_url(redis_url());
  auto client = h.client(options);
  auto sub = h.subscriber(options, inbox.message_handler(), inbox.state_handler());
  const std::string channel = unique_name("confirmed");
  h.run([](std::shared_ptr<Client> client, std::shared_ptr<Subscriber> sub, Inbox& inbox,
           std::string channel) -> asio::awaitable<void> {
    co_await wait_until([&] { return client->connected() && sub->connected(); }, 5s, "connected");
    std::atomic<int> confirmed{0};
    std::atomic<int> receivers_at_confirmation{-1};
    sub->subscribe(channel);
    sub->when_subscribed(channel, [&] { ++confirmed; });
    co_await wait_until([&] { return confirmed.load() == 1; }, 5s, "confirmation");
    // From the confirmation on, a publish reaches the subscriber: no probing needed.
    std::string first = "first";
    receivers_at_confirmation = static_cast<int>(co_await client->publish(channel, first));
    EXPECT_EQ(receivers_at_confirmation.load(), 1);
    co_await wait_until([&] { return inbox.payloads(channel).size() == 1; }, 5s, "first message");
    // Already confirmed: the callback runs at once (on the strand).
    sub->when_subscribed(channel, [&] { ++confirmed; });
    co_await wait_until([&] { return confirmed.load() == 2; }, 5s, "immediate confirmation");
    co_await sub->async_stop();
    co_await client->async_stop();
  }(client, sub, inbox, channel));
}

TEST(RedisSubscriber, WhenSubscribedDropsTheCallbackOfAChannelUnsubscribedBeforeConfirmation) {
  // Redis is down while the channel comes and goes, so its confirmation cannot arrive before the
  // unsubscribe (against a live Redis it may, and then the callback rightly runs).
  PrivateRedis server;
  Inbox inbox;
  Harness h;
  const Options options = fast_reconnect(parse_url(server.url()));
  auto sub = h.subscriber(options, inbox.message_handler(), inbox.state_handler());
  const std::string kept = unique_name("kept");
  const std::string dropped = unique_name("dropped");
  std::atomic<int> kept_confirmed{0};
  std::atomic<bool> dropped_called{false};
  sub->subscribe(kept);
  sub->when_subscribed(kept, [&] { ++kept_confirmed; });
  sub->subscribe(dropped);
  sub->when_subscribed(dropped, [&] { dropped_called = true; });
  sub->unsubscribe(dropped);
  server.start();
  ASSERT_TRUE(server.wait_ready(10s));
  h.run([](std::shared_ptr<Subscriber> sub, std::atomic<int>& kept_confirmed,
           std::atomic<bool>& dropped_called) -> asio::awaitable<void> {
    co_await wait_until([&] { return kept_confirmed.load() == 1; }, 10s, "kept confirmed");
    // The strand handled both confirmations in order before the subscriber announced "up".
    co_await wait_until([&] { return sub->connected(); }, 5s, "up");
    EXPECT_FALSE(dropped_called.load());
    co_await sub->async_stop();
  }(sub, kept_confirmed, dropped_called));
  EXPECT_FALSE(dropped_called.load());
}

TEST(RedisSubscriber, UnsubscribeStopsDeliveryAndBothCallsAreIdempotent) {
  Inbox inbox;
  Harness h;
  const Options options = parse_url(redis_url());
  auto client = h.client(options);
  auto sub = h.subscriber(options, inbox.message_handler(), inbox.state_handler());
  const std::string leaving = unique_name("leaving");
  const std::string staying = unique_name("staying");
  sub->subscribe(leaving);
  sub->subscribe(leaving);  // idempotent
  sub->subscribe(staying);
  h.run([](Harness& h, std::shared_ptr<Client> client, std::shared_ptr<Subscriber> sub,
           Inbox& inbox, std::string leaving, std::string staying) -> asio::awaitable<void> {
    co_await wait_until([&] { return client->connected() && sub->connected(); }, 5s, "connected");
    co_await until_subscribed(client, leaving);
    co_await until_subscribed(client, staying);
    EXPECT_EQ(h.metrics().subscribed_channels.get().value(), 2);
    EXPECT_EQ(co_await client->publish(leaving, "before"), 1);  // once, despite two subscribe()s
    co_await wait_until([&] { return inbox.payloads(leaving).size() == 1; }, 5s, "before");

    sub->unsubscribe(leaving);
    sub->unsubscribe(leaving);  // idempotent
    // Published after unsubscribe() returned but maybe before Redis processed the UNSUBSCRIBE:
    // the subscriber must drop it locally.
    co_await client->publish(leaving, "racing");
    co_await until_unsubscribed(client, leaving);
    EXPECT_EQ(co_await client->publish(leaving, "after"), 0);
    // Messages on one connection arrive in order: once the sentinel is here, anything published
    // to `leaving` before it would have been too.
    EXPECT_EQ(co_await client->publish(staying, "sentinel"), 1);
    co_await wait_until([&] { return !inbox.payloads(staying).empty(); }, 5s, "sentinel");
    EXPECT_EQ(inbox.payloads(leaving), (std::vector<std::string>{"before"}));
    EXPECT_EQ(inbox.payloads(staying), (std::vector<std::string>{"sentinel"}));
    EXPECT_EQ(h.metrics().subscribed_channels.get().value(), 1);

    // Subscribing again works (hiredis keeps per-channel callback state across this).
    sub->subscribe(leaving);
    co_await until_subscribed(client, leaving);
    EXPECT_EQ(co_await client->publish(leaving, "again"), 1);
    co_await wait_until([&] { return inbox.payloads(leaving).size() == 2; }, 5s, "again");
    EXPECT_EQ(inbox.payloads(leaving).back(), "again");
  }(h, client, sub, inbox, leaving, staying));
}

struct InFlight {
  std::atomic<bool> done{false};
  std::atomic<bool> unavailable{false};
};

asio::awaitable<void> blocking_pop(std::shared_ptr<Client> client, std::string key,
                                   std::shared_ptr<InFlight> state) {
  try {
    co_await client->command("BLPOP", std::move(key), "0");
  } catch (const core::InfraError& e) {
    state->unavailable = e.kind() == core::ErrorKind::kUnavailable;
  }
  state->done = true;
}

TEST(RedisSubscriber, ClientAndSubscriberReconnectAndResubscribeAfterRedisRestarts) {
  PrivateRedis server;
  server.start();
  ASSERT_TRUE(server.wait_ready(10s));
  Inbox inbox;
  Harness h;
  Options options = fast_reconnect(parse_url(server.url()));
  options.command_timeout = 30s;  // the BLPOP below must fail by connection loss, not timeout
  auto client = h.client(options);
  auto sub = h.subscriber(options, inbox.message_handler(), inbox.state_handler());
  const std::string before = unique_name("before");
  const std::string during = unique_name("during");
  sub->subscribe(before);
  h.run([](Harness& h, PrivateRedis& server, std::shared_ptr<Client> client,
           std::shared_ptr<Subscriber> sub, Inbox& inbox, std::string before,
           std::string during) -> asio::awaitable<void> {
    co_await wait_until([&] { return client->connected() && sub->connected(); }, 5s, "connected");
    // Subscribed before start(): confirmed by the time the state handler said up.
    EXPECT_EQ(co_await client->publish(before, "one"), 1);
    co_await wait_until([&] { return inbox.payloads(before).size() == 1; }, 5s, "first message");

    // A command in flight when Redis dies fails (exactly once) instead of hanging.
    auto pop = std::make_shared<InFlight>();
    asio::co_spawn(h.io(), blocking_pop(client, unique_name("list"), pop),
                   [](const std::exception_ptr& e) {
                     if (e) ADD_FAILURE() << "blocking_pop threw something other than InfraError";
                   });
    co_await wait_until([&] { return h.metrics().commands_in_flight.get().value() == 1; }, 5s,
                        "BLPOP in flight");

    server.kill();
    co_await wait_until(
        [&] {
          const auto states = inbox.states();
          return !client->connected() && !sub->connected() && !states.empty() && !states.back();
        },
        5s, "both to notice the loss");
    co_await wait_until([&] { return pop->done.load(); }, 5s, "BLPOP to fail");
    EXPECT_TRUE(pop->unavailable.load());
    try {
      co_await client->command("PING");
      ADD_FAILURE() << "command while Redis is down did not throw";
    } catch (const core::InfraError& e) {
      EXPECT_EQ(e.kind(), core::ErrorKind::kUnavailable);
    }
    sub->subscribe(during);  // remembered while down

    const auto restarted = Clock::now();
    server.start();
    co_await wait_until([&] { return client->connected() && sub->connected(); }, 10s,
                        "both to reconnect");
    EXPECT_LT(Clock::now() - restarted, 5s);
    EXPECT_EQ(inbox.states(), (std::vector<bool>{true, false, true}));

    // "up" is only reported once every remembered channel is confirmed again, so no probing.
    EXPECT_EQ(co_await client->publish(before, "two"), 1);
    EXPECT_EQ(co_await client->publish(during, "three"), 1);
    co_await wait_until(
        [&] { return inbox.payloads(before).size() == 2 && inbox.payloads(during).size() == 1; },
        5s, "messages after the restart");
    EXPECT_EQ(inbox.payloads(before), (std::vector<std::string>{"one", "two"}));
    EXPECT_EQ(inbox.payloads(during), (std::vector<std::string>{"three"}));

    const std::string key = unique_name("after-restart");
    EXPECT_EQ((co_await client->command("SET", key, "v")).str, "OK");
    EXPECT_EQ((co_await client->command("GET", key)).str, "v");
  }(h, server, client, sub, inbox, before, during));
  EXPECT_EQ(h.metrics().reconnects.with({"command"}).value(), 1);
  EXPECT_EQ(h.metrics().reconnects.with({"subscriber"}).value(), 1);
  EXPECT_EQ(h.metrics().connection_up.with({"command"}).value(), 0);
  EXPECT_EQ(h.metrics().connection_up.with({"subscriber"}).value(), 0);
  EXPECT_EQ(h.metrics().commands_in_flight.get().value(), 0);
}

TEST(RedisSubscriber, HandlerExceptionsAreLoggedAndDeliveryContinues) {
  Inbox inbox;
  Harness h;
  const Options options = parse_url(redis_url());
  auto client = h.client(options);
  auto seen = std::make_shared<std::atomic<int>>(0);
  auto sub = h.subscriber(
      options,
      [seen](std::string_view, std::string_view payload) {
        if (payload == kProbe) return;
        ++*seen;
        throw std::runtime_error("handler bug");
      },
      inbox.state_handler());
  const std::string channel = unique_name("throwing");
  sub->subscribe(channel);
  h.run([](std::shared_ptr<Client> client, std::shared_ptr<Subscriber> sub,
           std::shared_ptr<std::atomic<int>> seen, std::string channel) -> asio::awaitable<void> {
    co_await wait_until([&] { return client->connected() && sub->connected(); }, 5s, "connected");
    co_await until_subscribed(client, channel);
    co_await client->publish(channel, "a");
    co_await client->publish(channel, "b");
    co_await wait_until([&] { return seen->load() == 2; }, 5s, "both messages despite throws");
    EXPECT_TRUE(sub->connected());
  }(client, sub, seen, channel));
}

}  // namespace
}  // namespace ticketd::infra::redis
