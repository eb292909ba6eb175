// The Redis token buckets (one EVALSHA per decision) against the real Redis, the script
// reloaded after SCRIPT FLUSH, and the per-instance fallback while Redis is unreachable.
#include "integration/infra/redis/redis_test_support.hpp"
#include "modules/ratelimit/limiter.hpp"

namespace ticketd::ratelimit {
namespace {

using namespace infra::redis::testing;  // NOLINT(google-build-using-namespace): test helpers

core::RateRule rule(const char* text) {
  return core::RateRule::parse(text).value();
}

// Named arguments only around co_await (GCC 12 rejects braced lists inside one, README).
asio::awaitable<Verdict> take(Limiter& limiter, const std::vector<Bucket>& buckets,
                              bool commit = true) {
  std::vector<Bucket> copy = buckets;
  co_return co_await limiter.take(std::move(copy), commit);
}

asio::awaitable<void> shared_buckets(Harness& h) {
  {
    auto options = infra::redis::parse_url(redis_url());
    auto client = h.client(options);
    co_await wait_until([&] { return client->connected(); }, 5s, "redis connected");
    // Two limiters are two instances sharing Redis.
    Limiter a(client, h.registry());
    Limiter b(client, h.registry());
    const std::string ip = unique_name("ip");
    const std::string user = unique_name("user");
    const std::vector<Bucket> by_ip{{"api:ip:" + ip, rule("100/1m")}};
    const std::vector<Bucket> both{by_ip[0], {"reserve:caller:" + user, rule("3/1m")}};
    for (int i = 0; i < 3; ++i) {
      Limiter& which = i % 2 == 0 ? a : b;
      auto v = co_await take(which, both);
      require(v.allowed && v.limited, "allowed within the burst");
      require(v.limit == 3 && v.remaining == 2 - i, "the per-user bucket is reported");
    }
    auto refused = co_await take(b, both);
    require(!refused.allowed, "the fourth is refused, across instances");
    require(refused.retry_after_seconds == 20, "one token per 20 s");
    require(refused.reset_seconds == 60, "full again in a minute");
    auto api = co_await take(a, by_ip, false);
    require(api.remaining == 97, "the refusal took nothing from the address bucket");

    // Looking takes nothing.
    const std::vector<Bucket> failures{{"login-failures:email:" + unique_name("e"), rule("1/15m")}};
    require((co_await take(a, failures, false)).allowed, "look");
    require((co_await take(a, failures, true)).allowed, "spend");
    require(!(co_await take(a, failures, false)).allowed, "nothing left");

    // A restarted Redis forgets scripts: the limiter loads it again by itself.
    auto flushed = co_await client->command("SCRIPT", "FLUSH");
    require(!flushed.is_error(), "SCRIPT FLUSH");
    auto after = co_await take(a, by_ip);
    require(after.allowed && after.remaining == 96, "decided in Redis after the flush");
    require(!a.degraded(), "never fell back");

    // Keys expire once full again: no bucket outlives its period by much.
    const std::string key = "ticketd:rl:reserve:caller:" + user;
    auto ttl = co_await client->command("PTTL", key);
    require(ttl.integer > 0 && ttl.integer <= 61'000, "the bucket key expires");
  }
}

TEST(LimiterRedis, SharedBucketsRefuseAllOrNothingAndSurviveAScriptFlush) {
  Harness h;
  h.run(shared_buckets(h));
}

asio::awaitable<void> falls_back(Harness& h, PrivateRedis& redis) {
  {
    auto client = h.client(fast_reconnect(infra::redis::parse_url(redis.url())));
    co_await wait_until([&] { return client->connected(); }, 5s, "redis connected");
    Limiter limiter(client, h.registry());
    const std::vector<Bucket> b{{"auth:ip:" + unique_name("ip"), rule("2/1m")}};
    require((co_await take(limiter, b)).allowed, "first, in Redis");
    require(!limiter.degraded(), "shared");

    redis.kill();
    co_await wait_until([&] { return !client->connected(); }, 5s, "link down");
    // Per instance now: a fresh local bucket, limited all the same (never unlimited).
    require((co_await take(limiter, b)).allowed, "1 of 2 locally");
    require((co_await take(limiter, b)).allowed, "2 of 2 locally");
    auto refused = co_await take(limiter, b);
    require(!refused.allowed && refused.retry_after_seconds >= 1, "the local bucket refuses");
    require(limiter.degraded(), "degraded while down");
    require(h.registry().render().find("ticketd_rate_limit_degraded 1") != std::string::npos,
            "visible in the metrics");

    redis.start();
    co_await wait_until([&] { return client->connected(); }, 10s, "link back");
    require((co_await take(limiter, b)).allowed, "Redis still had one token");
    require(!limiter.degraded(), "shared again");
  }
}

TEST(LimiterRedis, FallsBackToPerInstanceBucketsWhileRedisIsDownAndReturns) {
  Harness h;
  PrivateRedis redis;
  redis.start();
  ASSERT_TRUE(redis.wait_ready(5s));
  h.run(falls_back(h, redis));
}

}  // namespace
}  // namespace ticketd::ratelimit
