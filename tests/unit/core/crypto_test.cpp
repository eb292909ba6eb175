#include "core/crypto.hpp"

#include <gtest/gtest.h>

namespace ticketd::core {
namespace {

TEST(Crypto, Base64UrlRoundTripAndStrictness) {
  const std::string bytes("\x00\xff\x10 binary?>", 12);
  const auto text = base64url_encode(bytes);
  EXPECT_EQ(text.find_first_of("+/="), std::string::npos);
  EXPECT_EQ(base64url_decode(text), bytes);
  EXPECT_FALSE(base64url_decode("abc*"));
  EXPECT_FALSE(base64url_decode("YQ=="));  // padding is not part of the no-padding variant
  EXPECT_EQ(base64url_decode(""), std::string());
}

TEST(Crypto, UuidBytes) {
  const std::string id = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
  const auto bytes = uuid_to_bytes(id);
  ASSERT_TRUE(bytes);
  EXPECT_EQ(bytes->size(), 16u);
  EXPECT_EQ(uuid_from_bytes(*bytes), id);
  EXPECT_EQ(uuid_from_bytes(*uuid_to_bytes("0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0")), id);
  EXPECT_FALSE(uuid_to_bytes("not-a-uuid"));
}

TEST(Crypto, ConstantTimeEqual) {
  EXPECT_TRUE(constant_time_equal("abc", "abc"));
  EXPECT_FALSE(constant_time_equal("abc", "abd"));
  EXPECT_FALSE(constant_time_equal("abc", "abcd"));
  EXPECT_TRUE(constant_time_equal("", ""));
}

}  // namespace
}  // namespace ticketd::core
