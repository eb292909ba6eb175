#include "core/outcome.hpp"

#include <gtest/gtest.h>

namespace ticketd::core {
namespace {

enum class Fruit { kApple, kPear };
constexpr OutcomeTable<Fruit, 2> kFruits{{{"APPLE", Fruit::kApple}, {"PEAR", Fruit::kPear}}};

TEST(Outcome, KnownWordsMapAndAnUnknownOneFailsLoudly) {
  EXPECT_EQ(outcome_of("PEAR", kFruits, "fruit()"), Fruit::kPear);
  // It used to become whatever the last `else` said (reservations: UNKNOWN_TICKET_TYPE).
  try {
    outcome_of("PLUM", kFruits, "fruit()");
    ADD_FAILURE() << "an unknown outcome must not map to anything";
  } catch (const std::logic_error& e) {
    EXPECT_NE(std::string(e.what()).find("fruit() returned the unknown outcome 'PLUM'"),
              std::string::npos);
  }
}

}  // namespace
}  // namespace ticketd::core
