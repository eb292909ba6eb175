// Token-bucket arithmetic and the per-instance fallback store (pure logic), and the rule syntax.
#include "modules/ratelimit/buckets.hpp"

#include <gtest/gtest.h>

#include "core/rate_rule.hpp"

namespace ticketd::ratelimit {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

core::RateRule rule(const char* text) {
  auto r = core::RateRule::parse(text);
  EXPECT_TRUE(r) << text;
  return r.value_or(core::RateRule{});
}

TEST(RateRule, ParsesCountPerPeriodAndOff) {
  EXPECT_EQ(rule("30/1m").count, 30);
  EXPECT_EQ(rule("30/1m").period, 60s);
  EXPECT_EQ(rule(" 5 / 10s ").period, 10s);
  EXPECT_EQ(rule("1000/1h").period, 1h);
  EXPECT_TRUE(rule("off").off());
  EXPECT_DOUBLE_EQ(rule("60/1m").per_ms(), 0.001);
  for (const char* bad : {"", "30", "30/", "/1m", "0/1m", "-1/1m", "30/1d", "30/0s", "30/25h",
                          "x/1m", "30/1.5m", "30/m", "1e3/1m"}) {
    EXPECT_FALSE(core::RateRule::parse(bad)) << bad;
  }
}

TEST(LocalBuckets, ABurstOfCapacityPassesThenRefusalsCarryRetryAfterUntilRefilled) {
  LocalBuckets buckets;
  const std::vector<Bucket> b{{"api:ip:1", rule("3/3s")}};  // one token per second
  const auto t0 = Clock::now();
  for (int i = 0; i < 3; ++i) {
    auto v = buckets.take(b, 1, true, t0);
    EXPECT_TRUE(v.allowed);
    EXPECT_EQ(v.limit, 3);
    EXPECT_EQ(v.remaining, 2 - i);
  }
  auto refused = buckets.take(b, 1, true, t0);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.remaining, 0);
  EXPECT_EQ(refused.retry_after_seconds, 1);
  EXPECT_EQ(refused.reset_seconds, 3);
  // A refused request takes nothing: one second later exactly one token is there.
  EXPECT_TRUE(buckets.take(b, 1, true, t0 + 1s).allowed);
  EXPECT_FALSE(buckets.take(b, 1, true, t0 + 1s).allowed);
  EXPECT_EQ(buckets.take(b, 1, false, t0 + 10s).remaining, 3) << "never above capacity";
}

TEST(LocalBuckets, AllOrNothingAcrossBucketsAndTheEmptiestIsReported) {
  LocalBuckets buckets;
  const std::vector<Bucket> both{{"api:ip:1", rule("100/1m")}, {"reserve:caller:u", rule("2/1m")}};
  const auto t0 = Clock::now();
  auto first = buckets.take(both, 1, true, t0);
  EXPECT_EQ(first.limit, 2) << "the per-caller bucket is the emptier one";
  EXPECT_EQ(first.remaining, 1);
  EXPECT_TRUE(buckets.take(both, 1, true, t0).allowed);
  auto refused = buckets.take(both, 1, true, t0);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.limit, 2);
  EXPECT_EQ(refused.retry_after_seconds, 30);
  // The address bucket lost nothing on the refusal.
  const std::vector<Bucket> api{{"api:ip:1", rule("100/1m")}};
  EXPECT_EQ(buckets.take(api, 1, false, t0).remaining, 98);
}

TEST(LocalBuckets, LookingTakesNothing) {
  LocalBuckets buckets;
  const std::vector<Bucket> b{{"login-failures:email:x", rule("1/15m")}};
  const auto t0 = Clock::now();
  EXPECT_TRUE(buckets.take(b, 1, false, t0).allowed);
  EXPECT_TRUE(buckets.take(b, 1, false, t0).allowed);
  EXPECT_TRUE(buckets.take(b, 1, true, t0).allowed);
  EXPECT_FALSE(buckets.take(b, 1, false, t0).allowed);
}

TEST(LocalBuckets, StaysBoundedUnderAFloodOfKeys) {
  LocalBuckets buckets(1'000);
  const auto t0 = Clock::now();
  for (int i = 0; i < 10'000; ++i) {
    const std::vector<Bucket> b{{"api:ip:" + std::to_string(i), rule("10/1m")}};
    EXPECT_TRUE(buckets.take(b, 1, true, t0).allowed);
    EXPECT_LE(buckets.size(), 1'000U);
  }
  // Buckets that refilled are forgotten first: a busy key survives a prune when others are full.
  LocalBuckets small(3);
  const std::vector<Bucket> busy{{"busy", rule("2/1m")}};
  small.take(busy, 1, true, t0);
  small.take(busy, 1, true, t0);
  for (int i = 0; i < 2; ++i) {
    small.take({{"idle" + std::to_string(i), rule("10/1s")}}, 1, true, t0);
  }
  small.take({{"late", rule("10/1s")}}, 1, true, t0 + 5s);
  EXPECT_FALSE(small.take(busy, 1, true, t0 + 5s).allowed) << "the empty bucket was kept";
}

}  // namespace
}  // namespace ticketd::ratelimit
