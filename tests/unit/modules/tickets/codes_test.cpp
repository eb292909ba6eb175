#include "modules/tickets/codes.hpp"

#include <gtest/gtest.h>

#include <set>

#include "core/ids.hpp"

namespace ticketd::tickets {
namespace {

TEST(TicketCodes, SignedCodeVerifiesForItsEventOnly) {
  const auto key = new_key_pair();
  const auto ticket = core::new_uuid();
  const auto event = core::new_uuid();
  const auto code = make_ticket_code(ticket, event, key);
  EXPECT_EQ(code.size(), 110u);
  EXPECT_EQ(code.rfind("TK1", 0), 0u);
  const auto parsed = parse_ticket_code(code);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->ticket_id, ticket);
  EXPECT_TRUE(verify_ticket_code(*parsed, event, key.public_key));
  EXPECT_FALSE(verify_ticket_code(*parsed, core::new_uuid(), key.public_key));
  EXPECT_FALSE(verify_ticket_code(*parsed, event, new_key_pair().public_key));
}

TEST(TicketCodes, TamperingIsDetected) {
  const auto key = new_key_pair();
  const auto event = core::new_uuid();
  const auto code = make_ticket_code(core::new_uuid(), event, key);
  for (std::size_t i = 3; i < code.size(); i += 7) {
    std::string bad = code;
    bad[i] = bad[i] == 'A' ? 'B' : 'A';
    const auto parsed = parse_ticket_code(bad);
    if (parsed) {
      EXPECT_FALSE(verify_ticket_code(*parsed, event, key.public_key)) << i;
    }
  }
}

TEST(TicketCodes, MalformedCodesDoNotParse) {
  EXPECT_FALSE(parse_ticket_code(""));
  EXPECT_FALSE(parse_ticket_code("TK1"));
  EXPECT_FALSE(parse_ticket_code("XX1" + std::string(107, 'A')));
  EXPECT_FALSE(parse_ticket_code("TK1" + std::string(106, 'A')));
  EXPECT_FALSE(parse_ticket_code("TK1" + std::string(107, '*')));
}

TEST(TicketCodes, SeedRoundTripAndUniqueness) {
  const auto key = new_key_pair();
  const auto again = key_pair_from_seed(seed_of(key));
  EXPECT_EQ(again.public_key, key.public_key);
  EXPECT_EQ(again.secret_key, key.secret_key);
  std::set<std::string> codes;
  const auto event = core::new_uuid();
  for (int i = 0; i < 1000; ++i) codes.insert(make_ticket_code(core::new_uuid(), event, key));
  EXPECT_EQ(codes.size(), 1000u);
  EXPECT_EQ(key_id_of(key.public_key).size(), 16u);
}

}  // namespace
}  // namespace ticketd::tickets
