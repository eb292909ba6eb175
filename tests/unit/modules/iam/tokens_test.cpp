#include "modules/iam/tokens.hpp"

#include <gtest/gtest.h>
#include <sodium.h>

namespace ticketd::iam {
namespace {

class Tokens : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_GE(sodium_init(), 0); }
  TokenSettings settings{"unit-test-secret-unit-test-secret", "ticketd", "ticketd-api", 900};
  AccessClaims claims{"0b6f6b0e-3f4c-4a8e-9a51-2f1f0c7d9e11",
                      "7c1a2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b", "jti-1", 0};
};

TEST(Duration, Forms) {
  EXPECT_EQ(parse_duration_seconds("900"), 900);
  EXPECT_EQ(parse_duration_seconds("30s"), 30);
  EXPECT_EQ(parse_duration_seconds("15m"), 900);
  EXPECT_EQ(parse_duration_seconds("1h"), 3600);
  EXPECT_EQ(parse_duration_seconds("1d"), 86400);
  for (const char* bad : {"", "m", "0", "-1m", "1w", "1.5h", "15 m", "99999999999999999999d"}) {
    EXPECT_FALSE(parse_duration_seconds(bad).has_value()) << bad;
  }
}

TEST_F(Tokens, RoundTripUntilExpiry) {
  const auto token = issue_access_token(settings, claims, 1'000'000);
  auto ok = verify_access_token(settings, token, 1'000'000 + 899);
  ASSERT_TRUE(ok.claims.has_value());
  EXPECT_EQ(ok.claims->user_id, claims.user_id);
  EXPECT_EQ(ok.claims->session_id, claims.session_id);
  EXPECT_EQ(ok.claims->expires_at, 1'000'900);
  auto late = verify_access_token(settings, token, 1'000'900);
  EXPECT_EQ(late.problem, TokenProblem::kExpired);
}

TEST_F(Tokens, WrongSecretIssuerOrAudienceIsRefused) {
  const auto token = issue_access_token(settings, claims, 1'000'000);
  TokenSettings other = settings;
  other.secret = "another-secret-another-secret-xx";
  EXPECT_EQ(verify_access_token(other, token, 1'000'001).problem, TokenProblem::kBadSignature);
  other = settings;
  other.audience = "elsewhere";
  EXPECT_EQ(verify_access_token(other, token, 1'000'001).problem, TokenProblem::kWrongAudience);
  other = settings;
  other.issuer = "elsewhere";
  EXPECT_EQ(verify_access_token(other, token, 1'000'001).problem, TokenProblem::kWrongIssuer);
}

TEST_F(Tokens, PreviousSecretsVerifyDuringARotationButNeverSign) {
  const auto old_token = issue_access_token(settings, claims, 1'000'000);
  TokenSettings rotated = settings;
  rotated.secret = "the-new-secret-the-new-secret-xx";
  rotated.previous_secrets = {"an-unrelated-secret-0123456789xx", settings.secret};
  const auto verified = verify_access_token(rotated, old_token, 1'000'001);
  ASSERT_TRUE(verified.claims) << static_cast<int>(*verified.problem);
  EXPECT_EQ(verified.claims->user_id, claims.user_id);
  // New tokens are signed with the new secret only: the old one alone refuses them.
  const auto new_token = issue_access_token(rotated, claims, 1'000'000);
  EXPECT_EQ(verify_access_token(settings, new_token, 1'000'001).problem,
            TokenProblem::kBadSignature);
  // Once the previous secret is dropped, its tokens are refused; the other checks still apply.
  rotated.previous_secrets.clear();
  EXPECT_EQ(verify_access_token(rotated, old_token, 1'000'001).problem,
            TokenProblem::kBadSignature);
  rotated.previous_secrets = {settings.secret};
  EXPECT_EQ(verify_access_token(rotated, old_token, 1'000'000 + 901).problem,
            TokenProblem::kExpired);
}

TEST_F(Tokens, AlgNoneAndGarbageAreRefused) {
  // {"alg":"none"} . {"sub":...,"exp":...} . (empty signature)
  const std::string none =
      "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0."
      "eyJzdWIiOiJ4Iiwic2lkIjoieSIsImp0aSI6InoiLCJpc3MiOiJ0aWNrZXRkIiwiYXVkIjoidGlja2V0ZC1hcGkiLCJl"
      "eHAiOjk5OTk5OTk5OTl9.";
  EXPECT_FALSE(verify_access_token(settings, none, 1).claims.has_value());
  EXPECT_FALSE(verify_access_token(settings, "", 1).claims.has_value());
  EXPECT_FALSE(verify_access_token(settings, "a.b", 1).claims.has_value());
  EXPECT_FALSE(verify_access_token(settings, "a.b.c.d", 1).claims.has_value());
  EXPECT_FALSE(verify_access_token(settings, "a b.c.d", 1).claims.has_value());
  auto token = issue_access_token(settings, claims, 1'000'000);
  token[token.size() / 2] = token[token.size() / 2] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(verify_access_token(settings, token, 1'000'001).claims.has_value());
}

TEST(Bearer, Rfc6750Header) {
  EXPECT_EQ(bearer_token("Bearer abc.def-_~+/"), "abc.def-_~+/");
  EXPECT_EQ(bearer_token("bearer abc"), "abc");
  EXPECT_EQ(bearer_token("BEARER   abc=="), "abc==");
  EXPECT_FALSE(bearer_token("Bearer").has_value());
  EXPECT_FALSE(bearer_token("Bearer ").has_value());
  EXPECT_FALSE(bearer_token("Basic abc").has_value());
  EXPECT_FALSE(bearer_token("Bearerabc").has_value());
  EXPECT_FALSE(bearer_token("Bearer abc def").has_value());
  EXPECT_FALSE(bearer_token("Bearer a=b").has_value());
}

TEST(RefreshTokens, RandomAndHashed) {
  ASSERT_GE(sodium_init(), 0);
  const auto a = random_token();
  const auto b = random_token();
  EXPECT_NE(a, b);
  EXPECT_EQ(a.size(), 43u);
  EXPECT_EQ(token_hash(a).size(), 64u);
  EXPECT_EQ(token_hash(a), token_hash(a));
  EXPECT_NE(token_hash(a), token_hash(b));
}

}  // namespace
}  // namespace ticketd::iam
