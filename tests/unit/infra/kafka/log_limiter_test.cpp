#include "infra/kafka/log_limiter.hpp"

#include <gtest/gtest.h>

namespace ticketd::infra::kafka {
namespace {

using namespace std::chrono_literals;

TEST(LogLimiter, AdmitsFirstThenOnePerIntervalWithSuppressedCount) {
  LogLimiter limiter(30s);
  const LogLimiter::Clock::time_point t0{};
  EXPECT_EQ(limiter.admit("err:_TRANSPORT", t0), 0u);
  EXPECT_EQ(limiter.admit("err:_TRANSPORT", t0 + 1s), std::nullopt);
  EXPECT_EQ(limiter.admit("err:_TRANSPORT", t0 + 29s), std::nullopt);
  EXPECT_EQ(limiter.admit("err:_TRANSPORT", t0 + 30s), 2u);
  EXPECT_EQ(limiter.admit("err:_TRANSPORT", t0 + 31s), std::nullopt);
  EXPECT_EQ(limiter.admit("err:_TRANSPORT", t0 + 61s), 1u);
}

TEST(LogLimiter, KeysAreIndependent) {
  LogLimiter limiter(30s);
  const LogLimiter::Clock::time_point t0{};
  EXPECT_EQ(limiter.admit("a", t0), 0u);
  EXPECT_EQ(limiter.admit("b", t0), 0u);
  EXPECT_EQ(limiter.admit("a", t0 + 1s), std::nullopt);
}

TEST(LogLimiter, ResetLetsTheNextLineThrough) {
  LogLimiter limiter(30s);
  const LogLimiter::Clock::time_point t0{};
  EXPECT_EQ(limiter.admit("a", t0), 0u);
  EXPECT_EQ(limiter.admit("a", t0 + 1s), std::nullopt);
  limiter.reset();
  EXPECT_EQ(limiter.admit("a", t0 + 2s), 0u);
}

}  // namespace
}  // namespace ticketd::infra::kafka
