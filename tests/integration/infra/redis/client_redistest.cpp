// infra/redis Client against the real Redis (REDIS_URL), a private redis-server, and a fake
// server that answers the handshake and then misbehaves (silence, dropped connection).
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <string_view>

#include "core/errors.hpp"
#include "integration/infra/redis/redis_test_support.hpp"

namespace ticketd::infra::redis {
namespace {

using namespace testing;  // NOLINT(google-build-using-namespace): test helpers
using tcp = asio::ip::tcp;

// Sends a GET and returns the InfraError it throws; fails the test if it does not throw one.
asio::awaitable<core::InfraError> expect_infra_error(std::shared_ptr<Client> client) {
  try {
    co_await client->command("GET", "ticketd-test:never-set");
  } catch (const core::InfraError& e) {
    co_return e;
  }
  throw std::runtime_error("command did not throw InfraError");
}

asio::awaitable<Reply> get(std::shared_ptr<Client> client, std::string key) {
  co_return co_await client->command("GET", std::move(key));
}

// Answers the handshake PING, then either swallows everything or drops the connection on the
// next command. Lives on its own strand; close() ends it so the io_context can run dry.
class FakeRedis : public std::enable_shared_from_this<FakeRedis> {
 public:
  enum class Mode { kSilent, kCloseOnCommand };

  FakeRedis(asio::io_context& io, Mode mode)
      : strand_(asio::make_strand(io)),
        acceptor_(strand_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
        mode_(mode) {}

  int port() const { return acceptor_.local_endpoint().port(); }
  int connections() const { return connections_.load(); }
  int commands_seen() const { return commands_.load(); }

  void start() {
    asio::co_spawn(strand_, accept_loop(shared_from_this()), [](const std::exception_ptr& e) {
      if (e) ADD_FAILURE() << "fake redis accept loop threw";
    });
  }

  void close() {
    asio::post(strand_, [self = shared_from_this()] {
      boost::system::error_code ec;
      self->acceptor_.close(ec);
      for (auto& s : self->sockets_) s->close(ec);
      self->sockets_.clear();
    });
  }

 private:
  static asio::awaitable<void> accept_loop(std::shared_ptr<FakeRedis> self) {
    for (;;) {
      auto [ec, socket] =
          co_await self->acceptor_.async_accept(asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      ++self->connections_;
      auto s = std::make_shared<tcp::socket>(std::move(socket));
      self->sockets_.push_back(s);
      asio::co_spawn(self->strand_, serve(self, s), [](const std::exception_ptr& e) {
        if (e) ADD_FAILURE() << "fake redis connection threw";
      });
    }
  }

  static asio::awaitable<void> serve(std::shared_ptr<FakeRedis> self,
                                     std::shared_ptr<tcp::socket> socket) {
    std::string greeting;
    char data[4096];
    bool greeted = false;
    for (;;) {
      auto [ec, n] =
          co_await socket->async_read_some(asio::buffer(data), asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      if (!greeted) {
        greeting.append(data, n);
        if (greeting.find("PING") == std::string::npos) continue;
        greeted = true;
        co_await asio::async_write(*socket, asio::buffer(std::string_view("+PONG\r\n")),
                                   asio::as_tuple(asio::use_awaitable));
        continue;
      }
      ++self->commands_;
      if (self->mode_ == Mode::kCloseOnCommand) {
        boost::system::error_code ignored;
        socket->close(ignored);
        co_return;
      }
    }
  }

  asio::strand<asio::io_context::executor_type> strand_;
  tcp::acceptor acceptor_;
  Mode mode_;
  std::vector<std::shared_ptr<tcp::socket>> sockets_;
  std::atomic<int> connections_{0};
  std::atomic<int> commands_{0};
};

double counter_value(Metrics& m, std::string_view outcome) {
  return m.commands.with({outcome}).value();
}

TEST(RedisClient, SetGetIncrAndBinarySafeValuesRoundTrip) {
  Harness h;
  auto client = h.client(parse_url(redis_url()));
  h.run([](std::shared_ptr<Client> client) -> asio::awaitable<void> {
    co_await wait_until([&] { return client->connected(); }, 5s, "connected");
    const std::string key = unique_name("kv");
    const std::string counter = unique_name("counter");
    const std::string binary("a\0b\r\n\xff\x00z", 8);

    Reply r = co_await client->command("SET", key, "hello");
    EXPECT_EQ(r.type, Reply::Type::kStatus);
    EXPECT_EQ(r.str, "OK");
    r = co_await client->command("GET", key);
    EXPECT_EQ(r.type, Reply::Type::kString);
    EXPECT_EQ(r.str, "hello");

    r = co_await client->command("INCR", counter);
    EXPECT_EQ(r.type, Reply::Type::kInteger);
    EXPECT_EQ(r.integer, 1);
    r = co_await client->command("INCRBY", counter, "41");
    EXPECT_EQ(r.integer, 42);

    // Binary-safe both ways: NUL, CR LF and high bytes in the key and the value.
    const std::string binary_key = key + std::string("\0\n", 2);
    r = co_await client->command("SET", binary_key, binary);
    EXPECT_EQ(r.str, "OK");
    r = co_await client->command("GET", binary_key);
    EXPECT_EQ(r.type, Reply::Type::kString);
    EXPECT_EQ(r.str, binary);

    // Larger than hiredis' 16 KiB read chunk many times over: the adapter must keep re-arming
    // the read wait until the whole reply is in.
    std::string big(3 * 1024 * 1024 + 7, '\0');
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 131) % 251);
    r = co_await client->command("SET", key + ":big", big);
    EXPECT_EQ(r.str, "OK");
    r = co_await client->command("GET", key + ":big");
    EXPECT_EQ(r.str.size(), big.size());
    EXPECT_TRUE(r.str == big);

    r = co_await client->command("GET", unique_name("missing"));
    EXPECT_EQ(r.type, Reply::Type::kNil);

    r = co_await client->command("RPUSH", key + ":list", "a", "b");
    r = co_await client->command("LRANGE", key + ":list", "0", "-1");
    EXPECT_EQ(r.type, Reply::Type::kArray);
    require(r.elements.size() == 2, "two list elements");
    EXPECT_EQ(r.elements[0].str, "a");
    EXPECT_EQ(r.elements[1].str, "b");

    r = co_await client->command("DEL", key, counter, binary_key, key + ":list", key + ":big");
    EXPECT_EQ(r.integer, 5);
  }(client));
  EXPECT_EQ(counter_value(h.metrics(), "ok"), 12);
  EXPECT_EQ(h.metrics().commands_in_flight.get().value(), 0);
}

TEST(RedisClient, WrongTypeOperationIsAnErrorReplyNotAnException) {
  Harness h;
  auto client = h.client(parse_url(redis_url()));
  h.run([](std::shared_ptr<Client> client) -> asio::awaitable<void> {
    co_await wait_until([&] { return client->connected(); }, 5s, "connected");
    const std::string key = unique_name("wrongtype");
    co_await client->command("SET", key, "string");
    const Reply r = co_await client->command("LPUSH", key, "x");
    EXPECT_EQ(r.type, Reply::Type::kError);
    EXPECT_TRUE(r.is_error());
    EXPECT_TRUE(r.str.starts_with("WRONGTYPE")) << r.str;
    // The connection is still fine afterwards.
    const Reply del = co_await client->command("DEL", key);
    EXPECT_EQ(del.integer, 1);
  }(client));
  EXPECT_EQ(counter_value(h.metrics(), "error"), 1);
}

struct ConcurrentState {
  std::atomic<int> done{0};
  std::atomic<int> failed{0};
};

asio::awaitable<void> one_of_many(std::shared_ptr<Client> client, std::string key,
                                  std::string counter, int i) {
  const std::string value = "value-" + std::to_string(i) + std::string("\0tail", 5);
  const Reply set = co_await client->command("SET", key, value);
  require(set.str == "OK", "SET answered OK");
  const Reply get = co_await client->command("GET", key);
  require(get.str == value, "GET returned what this coroutine SET");
  const Reply incr = co_await client->command("INCR", counter);
  require(incr.type == Reply::Type::kInteger && incr.integer >= 1 && incr.integer <= 500,
          "INCR in range");
  co_await client->command("DEL", key);
}

TEST(RedisClient, FiveHundredConcurrentCommandsAllCompleteCorrectly) {
  Harness h;
  auto client = h.client(parse_url(redis_url()));
  h.run([](Harness& h, std::shared_ptr<Client> client) -> asio::awaitable<void> {
    co_await wait_until([&] { return client->connected(); }, 5s, "connected");
    constexpr int kCoroutines = 500;
    const std::string prefix = unique_name("many");
    const std::string counter = prefix + ":counter";
    auto state = std::make_shared<ConcurrentState>();
    for (int i = 0; i < kCoroutines; ++i) {
      asio::co_spawn(h.io(), one_of_many(client, prefix + ":" + std::to_string(i), counter, i),
                     [state](const std::exception_ptr& e) {
                       if (e) ++state->failed;
                       ++state->done;
                     });
    }
    co_await wait_until([&] { return state->done.load() == kCoroutines; }, 30s, "all commands");
    EXPECT_EQ(state->failed.load(), 0);
    const Reply total = co_await client->command("GET", counter);
    EXPECT_EQ(total.str, std::to_string(kCoroutines));
    co_await client->command("DEL", counter);
  }(h, client));
  EXPECT_EQ(counter_value(h.metrics(), "ok"), 500 * 4 + 2);
}

TEST(RedisClient, CommandWhileDisconnectedThrowsUnavailableFast) {
  Harness h;
  Options options = fast_reconnect(parse_url("redis://127.0.0.1:" + std::to_string(free_port())));
  auto client = h.client(options);
  h.run([](std::shared_ptr<Client> client) -> asio::awaitable<void> {
    EXPECT_FALSE(client->connected());
    for (int i = 0; i < 5; ++i) {
      const auto t0 = Clock::now();
      const core::InfraError e = co_await expect_infra_error(client);
      const auto elapsed = Clock::now() - t0;
      EXPECT_EQ(e.kind(), core::ErrorKind::kUnavailable);
      EXPECT_EQ(e.code(), "REDIS_UNAVAILABLE");
      EXPECT_LT(elapsed, 100ms);
      // Let a few reconnect attempts happen in between; the answer stays immediate.
      asio::steady_timer timer(co_await asio::this_coro::executor, 30ms);
      co_await timer.async_wait(asio::use_awaitable);
    }
    EXPECT_FALSE(client->connected());
  }(client));
  EXPECT_EQ(counter_value(h.metrics(), "unavailable"), 5);
  EXPECT_EQ(h.metrics().connection_up.with({"command"}).value(), 0);
}

TEST(RedisClient, CommandTimeoutThrowsAndRecyclesTheConnection) {
  Harness h;
  auto fake = std::make_shared<FakeRedis>(h.io(), FakeRedis::Mode::kSilent);
  fake->start();
  h.on_finish([fake] { fake->close(); });
  Options options = fast_reconnect(parse_url("redis://127.0.0.1:" + std::to_string(fake->port())));
  options.command_timeout = 200ms;
  auto client = h.client(options);
  h.run(
      [](std::shared_ptr<Client> client, std::shared_ptr<FakeRedis> fake) -> asio::awaitable<void> {
        co_await wait_until([&] { return client->connected(); }, 5s, "connected");
        const auto t0 = Clock::now();
        const core::InfraError e = co_await expect_infra_error(client);
        const auto elapsed = Clock::now() - t0;
        EXPECT_EQ(e.kind(), core::ErrorKind::kUnavailable);
        EXPECT_NE(std::string(e.what()).find("timed out"), std::string::npos) << e.what();
        EXPECT_GE(elapsed, 190ms);
        EXPECT_LT(elapsed, 2s);
        // The stuck connection is dropped and a fresh one made.
        co_await wait_until([&] { return fake->connections() >= 2 && client->connected(); }, 5s,
                            "reconnect after timeout");
      }(client, fake));
  EXPECT_EQ(counter_value(h.metrics(), "timeout"), 1);
  EXPECT_EQ(h.metrics().reconnects.with({"command"}).value(), 1);
  EXPECT_EQ(h.metrics().commands_in_flight.get().value(), 0);
}

TEST(RedisClient, ConnectionLossMidFlightThrowsUnavailable) {
  Harness h;
  auto fake = std::make_shared<FakeRedis>(h.io(), FakeRedis::Mode::kCloseOnCommand);
  fake->start();
  h.on_finish([fake] { fake->close(); });
  Options options = fast_reconnect(parse_url("redis://127.0.0.1:" + std::to_string(fake->port())));
  options.command_timeout = 10s;
  auto client = h.client(options);
  h.run([](std::shared_ptr<Client> client) -> asio::awaitable<void> {
    co_await wait_until([&] { return client->connected(); }, 5s, "connected");
    const auto t0 = Clock::now();
    const core::InfraError e = co_await expect_infra_error(client);
    EXPECT_EQ(e.kind(), core::ErrorKind::kUnavailable);
    EXPECT_NE(std::string(e.what()).find("lost"), std::string::npos) << e.what();
    EXPECT_LT(Clock::now() - t0, 2s);
    co_await wait_until([&] { return client->connected(); }, 5s, "reconnected");
  }(client));
  EXPECT_EQ(counter_value(h.metrics(), "unavailable"), 1);
}

TEST(RedisClient, StopFailsPendingCommandsIsIdempotentAndLeavesNoWork) {
  Harness h;
  auto fake = std::make_shared<FakeRedis>(h.io(), FakeRedis::Mode::kSilent);
  fake->start();
  h.on_finish([fake] { fake->close(); });
  Options options = parse_url("redis://127.0.0.1:" + std::to_string(fake->port()));
  options.command_timeout = 30s;
  auto client = h.client(options);
  h.run([](Harness& h, std::shared_ptr<Client> client,
           std::shared_ptr<FakeRedis> fake) -> asio::awaitable<void> {
    co_await wait_until([&] { return client->connected(); }, 5s, "connected");
    struct Outcome {
      std::atomic<bool> done{false};
      std::atomic<bool> unavailable{false};
    };
    auto outcome = std::make_shared<Outcome>();
    for (int i = 0; i < 3; ++i) {
      asio::co_spawn(h.io(), get(client, "k"),
                     [outcome](const std::exception_ptr& e, const Reply&) {
                       try {
                         if (e) std::rethrow_exception(e);
                       } catch (const core::InfraError& err) {
                         outcome->unavailable = err.kind() == core::ErrorKind::kUnavailable;
                       } catch (...) {
                         outcome->unavailable = false;
                       }
                       outcome->done = true;
                     });
    }
    co_await wait_until([&] { return fake->commands_seen() >= 1; }, 5s, "commands in flight");
    const auto t0 = Clock::now();
    // From another thread than the io_context's, twice.
    std::thread([client] {
      client->stop();
      client->stop();
    }).join();
    EXPECT_FALSE(client->connected());
    co_await wait_until([&] { return outcome->done.load(); }, 2s, "pending commands to fail");
    EXPECT_TRUE(outcome->unavailable.load());
    EXPECT_LT(Clock::now() - t0, 1s);
    const core::InfraError e = co_await expect_infra_error(client);
    EXPECT_EQ(e.kind(), core::ErrorKind::kUnavailable);
  }(h, client, fake));
  EXPECT_EQ(h.metrics().connection_up.with({"command"}).value(), 0);
  EXPECT_EQ(h.metrics().commands_in_flight.get().value(), 0);
}

// stop() and the server dropping the connection land in either order on the strand; neither
// order may double-complete a command, double-count a gauge or touch a freed context (ASan).
TEST(RedisClient, StopRacingWithConnectionLossIsSafe) {
  for (int round = 0; round < 20; ++round) {
    Harness h;
    auto fake = std::make_shared<FakeRedis>(h.io(), FakeRedis::Mode::kCloseOnCommand);
    fake->start();
    h.on_finish([fake] { fake->close(); });
    Options options = parse_url("redis://127.0.0.1:" + std::to_string(fake->port()));
    options.command_timeout = 10s;
    auto client = h.client(options);
    h.run([](Harness& h, std::shared_ptr<Client> client,
             std::shared_ptr<FakeRedis> fake) -> asio::awaitable<void> {
      co_await wait_until([&] { return client->connected(); }, 5s, "connected");
      auto failed = std::make_shared<std::atomic<int>>(0);
      for (int i = 0; i < 3; ++i) {
        asio::co_spawn(h.io(), get(client, "k"),
                       [failed](const std::exception_ptr& e, const Reply&) {
                         if (e) ++*failed;
                       });
      }
      // Let the first command reach the server (which then hangs up) about when we stop.
      co_await wait_until([&] { return fake->commands_seen() >= 1 || failed->load() > 0; }, 5s,
                          "a command on the wire");
      client->stop();
      co_await wait_until([&] { return failed->load() == 3; }, 5s, "all three to fail");
    }(h, client, fake));
    EXPECT_EQ(h.metrics().connection_up.with({"command"}).value(), 0) << "round " << round;
    EXPECT_EQ(h.metrics().commands_in_flight.get().value(), 0) << "round " << round;
    EXPECT_EQ(counter_value(h.metrics(), "unavailable"), 3) << "round " << round;
  }
}

asio::awaitable<long long> total_connections(std::shared_ptr<Client> client) {
  const Reply info = co_await client->command("INFO", "stats");
  constexpr std::string_view kField = "total_connections_received:";
  const auto pos = info.str.find(kField);
  co_return pos == std::string::npos ? -1 : std::atoll(info.str.c_str() + pos + kField.size());
}

TEST(RedisClient, AuthAndSelectOnAPasswordProtectedServer) {
  PrivateRedis server({"--requirepass", "s3cr:t@/pw"});
  server.start();
  ASSERT_TRUE(server.wait_ready(10s));
  Harness h;
  // The password needs %-escapes in a URL; an unescaped '@' or '/' would parse too.
  auto db2 = h.client(parse_url(server.url(":s3cr%3At%40%2Fpw", 2)));
  auto db0 = h.client(parse_url(server.url("default:s3cr%3At%40%2Fpw", 0)));
  auto wrong = h.client(fast_reconnect(parse_url(server.url(":wrong"))));
  h.run([](std::shared_ptr<Client> db2, std::shared_ptr<Client> db0,
           std::shared_ptr<Client> wrong) -> asio::awaitable<void> {
    co_await wait_until([&] { return db2->connected() && db0->connected(); }, 5s, "connected");
    const std::string key = unique_name("selected");
    co_await db2->command("SET", key, "in-db-2");
    EXPECT_EQ((co_await db2->command("GET", key)).str, "in-db-2");
    EXPECT_EQ((co_await db0->command("GET", key)).type, Reply::Type::kNil);
    // The wrong password is refused again and again (each retry is a new connection that Redis
    // counts), and that client never reports "connected".
    const long long before = co_await total_connections(db0);
    require(before > 0, "INFO stats has total_connections_received");
    long long now = before;
    const auto deadline = Clock::now() + 5s;
    while (now < before + 3 && Clock::now() < deadline) {
      EXPECT_FALSE(wrong->connected());
      asio::steady_timer timer(co_await asio::this_coro::executor, 20ms);
      co_await timer.async_wait(asio::use_awaitable);
      now = co_await total_connections(db0);
    }
    EXPECT_GE(now, before + 3);
    EXPECT_FALSE(wrong->connected());
  }(db2, db0, wrong));
  EXPECT_EQ(h.metrics().connection_up.with({"command"}).value(), 0);
}

TEST(RedisClient, MetricsAreRenderedWithRoleAndOutcome) {
  Harness h;
  // Built straight from the Registry (which the Harness' Metrics already registered into), next
  // to a Subscriber: the families must still appear once each.
  auto client = Client::create(h.io().get_executor(), parse_url(redis_url()), h.registry());
  client->start();
  h.on_finish([client] { client->stop(); });
  auto sub = Subscriber::create(h.io().get_executor(), parse_url(redis_url()), h.registry(),
                                nullptr, nullptr);
  sub->start();
  h.on_finish([sub] { sub->stop(); });
  h.run([](std::shared_ptr<Client> client, Harness& h) -> asio::awaitable<void> {
    co_await wait_until([&] { return client->connected(); }, 5s, "connected");
    co_await client->command("PING");
    const std::string text = h.registry().render();
    EXPECT_NE(text.find("ticketd_redis_connection_up{role=\"command\"} 1"), std::string::npos);
    EXPECT_NE(text.find("ticketd_redis_commands_total{outcome=\"ok\"} 1"), std::string::npos);
    EXPECT_NE(text.find("ticketd_redis_command_duration_seconds_count 1"), std::string::npos);
    // Each family exactly once, even with a Client and a Subscriber on one Registry.
    for (const char* family :
         {"ticketd_redis_connection_up", "ticketd_redis_reconnects_total",
          "ticketd_redis_commands_total", "ticketd_redis_subscribed_channels"}) {
      const std::string type = std::string("# TYPE ") + family + " ";
      EXPECT_NE(text.find(type), std::string::npos) << family;
      EXPECT_EQ(text.find(type), text.rfind(type)) << family;
    }
  }(client, h));
}

}  // namespace
}  // namespace ticketd::infra::redis
