// The per-class bound on requests in flight (pure logic, no sockets).
#include "http/shedding.hpp"

#include <gtest/gtest.h>

namespace ticketd::http {
namespace {

Shedder::Limits limits_with(TrafficClass c, std::size_t n) {
  Shedder::Limits l{};
  l[static_cast<std::size_t>(c)] = n;
  return l;
}

TEST(Shedder, AdmitsUpToTheBoundThenRefusesUntilASlotIsGivenBack) {
  core::metrics::Registry metrics;
  Shedder shedder(limits_with(TrafficClass::kReserve, 2), metrics);
  auto a = shedder.enter(TrafficClass::kReserve);
  auto b = shedder.enter(TrafficClass::kReserve);
  ASSERT_TRUE(a && b);
  EXPECT_FALSE(shedder.enter(TrafficClass::kReserve));
  EXPECT_EQ(shedder.in_flight(TrafficClass::kReserve), 2U);
  a->release();
  a->release();  // twice is harmless
  EXPECT_EQ(shedder.in_flight(TrafficClass::kReserve), 1U);
  auto c = shedder.enter(TrafficClass::kReserve);
  EXPECT_TRUE(c);
  const auto text = metrics.render();
  EXPECT_NE(text.find("ticketd_shed_total{class=\"reserve\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("ticketd_http_class_in_flight{class=\"reserve\"} 2"), std::string::npos);
}

TEST(Shedder, ASlotMovedKeepsOnePlaceAndDestructionGivesItBack) {
  core::metrics::Registry metrics;
  Shedder shedder(limits_with(TrafficClass::kAuth, 1), metrics);
  {
    auto slot = shedder.enter(TrafficClass::kAuth);
    ASSERT_TRUE(slot);
    Shedder::Slot moved = std::move(*slot);
    Shedder::Slot again;
    again = std::move(moved);
    EXPECT_EQ(shedder.in_flight(TrafficClass::kAuth), 1U);
  }
  EXPECT_EQ(shedder.in_flight(TrafficClass::kAuth), 0U);
}

TEST(Shedder, AClassUnderPressureShedsBelowItsBound) {
  core::metrics::Registry metrics;
  Shedder shedder(limits_with(TrafficClass::kReserve, 100), metrics);
  bool saturated = false;
  shedder.shed_under(TrafficClass::kReserve, [&saturated] { return saturated; });
  auto a = shedder.enter(TrafficClass::kReserve);
  EXPECT_TRUE(a);
  saturated = true;
  EXPECT_FALSE(shedder.enter(TrafficClass::kReserve));
  EXPECT_TRUE(shedder.enter(TrafficClass::kReads)) << "other classes are not affected";
  EXPECT_EQ(shedder.in_flight(TrafficClass::kReserve), 1U) << "the refused one left no trace";
  saturated = false;
  EXPECT_TRUE(shedder.enter(TrafficClass::kReserve));
}

TEST(Shedder, ZeroStreamAndOpsAreUnbounded) {
  core::metrics::Registry metrics;
  Shedder::Limits l{};
  l.fill(1);  // even a bound of 1 is ignored for streams and operations
  l[static_cast<std::size_t>(TrafficClass::kReads)] = 0;
  Shedder shedder(l, metrics);
  std::vector<Shedder::Slot> held;
  for (int i = 0; i < 100; ++i) {
    for (auto c : {TrafficClass::kReads, TrafficClass::kStream, TrafficClass::kOps}) {
      auto slot = shedder.enter(c);
      ASSERT_TRUE(slot) << traffic_label(c);
      held.push_back(std::move(*slot));
    }
  }
  EXPECT_EQ(shedder.in_flight(TrafficClass::kOps), 100U);
}

}  // namespace
}  // namespace ticketd::http
