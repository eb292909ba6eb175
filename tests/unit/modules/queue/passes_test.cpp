// Admission tokens of the waiting room (pure logic): bound to user, event and expiry, verified
// from the token alone.
#include "modules/queue/passes.hpp"

#include <gtest/gtest.h>

namespace ticketd::queue {
namespace {

constexpr std::string_view kUser = "7b0c5f7e-0a4b-4c59-9b1e-2f7c3c1d5a10";
constexpr std::string_view kEvent = "c1d2e3f4-0000-4000-8000-000000000001";
constexpr std::int64_t kNow = 1'800'000'000'000;

TEST(Passes, ATokenAdmitsItsUserToItsEventUntilItExpires) {
  const Passes passes("server-secret-0123456789-0123456789");
  const auto token = passes.issue(kUser, kEvent, kNow + 600'000);
  EXPECT_TRUE(passes.valid(token, kUser, kEvent, kNow));
  EXPECT_TRUE(passes.valid(token, kUser, kEvent, kNow + 599'999));
  EXPECT_FALSE(passes.valid(token, kUser, kEvent, kNow + 600'000)) << "expired";
  EXPECT_FALSE(passes.valid(token, "another-user", kEvent, kNow));
  EXPECT_FALSE(passes.valid(token, kUser, "another-event", kNow));
  EXPECT_EQ(passes.issue(kUser, kEvent, kNow + 600'000), token) << "deterministic";
}

TEST(Passes, TokensOfAPreviousSecretStayValidDuringARotation) {
  const Passes before("server-secret-0123456789-0123456789");
  const Passes during("rotated-secret-0123456789-012345678",
                      {"server-secret-0123456789-0123456789"});
  const Passes after("rotated-secret-0123456789-012345678");
  const auto old_token = before.issue(kUser, kEvent, kNow + 600'000);
  EXPECT_TRUE(during.valid(old_token, kUser, kEvent, kNow));
  EXPECT_FALSE(during.valid(old_token, kUser, "another-event", kNow));
  EXPECT_FALSE(after.valid(old_token, kUser, kEvent, kNow));
  // New tokens come from the current secret.
  const auto new_token = during.issue(kUser, kEvent, kNow + 600'000);
  EXPECT_EQ(new_token, after.issue(kUser, kEvent, kNow + 600'000));
  EXPECT_FALSE(before.valid(new_token, kUser, kEvent, kNow));
}

TEST(Passes, TamperedForgedOrMalformedTokensAreRefused) {
  const Passes passes("server-secret-0123456789-0123456789");
  const Passes other("another-secret-0123456789-0123456789");
  const auto token = passes.issue(kUser, kEvent, kNow + 600'000);
  const auto dot = token.find('.');
  // A later expiry with the old MAC, a flipped MAC character, another server's token.
  EXPECT_FALSE(
      passes.valid(std::to_string(kNow + 900'000) + token.substr(dot), kUser, kEvent, kNow));
  std::string flipped = token;
  flipped.back() = flipped.back() == '0' ? '1' : '0';
  EXPECT_FALSE(passes.valid(flipped, kUser, kEvent, kNow));
  EXPECT_FALSE(passes.valid(other.issue(kUser, kEvent, kNow + 600'000), kUser, kEvent, kNow));
  for (const char* bad :
       {"", ".", "abc", "123", ".abc", "12x.abc", "-5.abc", "99999999999999999999.a"}) {
    EXPECT_FALSE(passes.valid(bad, kUser, kEvent, kNow)) << bad;
  }
  EXPECT_FALSE(passes.valid(std::string(200, '1') + token.substr(dot), kUser, kEvent, kNow));
}

}  // namespace
}  // namespace ticketd::queue
