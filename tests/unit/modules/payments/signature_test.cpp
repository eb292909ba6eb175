#include "modules/payments/signature.hpp"

#include <gtest/gtest.h>

#include "core/crypto.hpp"

namespace ticketd::payments {
namespace {

constexpr std::int64_t kNow = 1'800'000'000;
const std::vector<std::string> kSecrets{"secret-one-0123456789"};

TEST(WebhookSignature, RoundTrip) {
  const std::string body = R"({"providerEventId":"e1"})";
  const auto header = sign_webhook(body, kSecrets[0], kNow);
  EXPECT_EQ(header.rfind("t=1800000000,v1=", 0), 0u);
  EXPECT_EQ(verify_webhook_signature(header, body, kSecrets, kNow, 300), SignatureVerdict::kValid);
}

TEST(WebhookSignature, KnownVector) {
  // HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog") (RFC 4231 style check)
  EXPECT_EQ(core::hmac_sha256_hex("key", "The quick brown fox jumps over the lazy dog"),
            "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8");
}

TEST(WebhookSignature, CoversTheWholeBody) {
  const auto header = sign_webhook("{\"a\":1}", kSecrets[0], kNow);
  EXPECT_EQ(verify_webhook_signature(header, "{\"a\":2}", kSecrets, kNow, 300),
            SignatureVerdict::kMismatch);
  EXPECT_EQ(verify_webhook_signature(header, "{\"a\":1} ", kSecrets, kNow, 300),
            SignatureVerdict::kMismatch);
}

TEST(WebhookSignature, ReplayWindow) {
  const auto header = sign_webhook("b", kSecrets[0], kNow - 301);
  EXPECT_EQ(verify_webhook_signature(header, "b", kSecrets, kNow, 300), SignatureVerdict::kStale);
  const auto future = sign_webhook("b", kSecrets[0], kNow + 301);
  EXPECT_EQ(verify_webhook_signature(future, "b", kSecrets, kNow, 300), SignatureVerdict::kStale);
  const auto edge = sign_webhook("b", kSecrets[0], kNow - 300);
  EXPECT_EQ(verify_webhook_signature(edge, "b", kSecrets, kNow, 300), SignatureVerdict::kValid);
}

TEST(WebhookSignature, RotationBothWays) {
  // several v1 values in the header
  const auto good = sign_webhook("b", kSecrets[0], kNow);
  const auto v1 = good.substr(good.find("v1="));
  const std::string header = "t=" + std::to_string(kNow) + ",v1=" + std::string(64, '0') + "," + v1;
  EXPECT_EQ(verify_webhook_signature(header, "b", kSecrets, kNow, 300), SignatureVerdict::kValid);
  // several secrets configured
  const std::vector<std::string> both{"old-secret-0123456789", kSecrets[0]};
  EXPECT_EQ(verify_webhook_signature(good, "b", both, kNow, 300), SignatureVerdict::kValid);
  const std::vector<std::string> other{"old-secret-0123456789"};
  EXPECT_EQ(verify_webhook_signature(good, "b", other, kNow, 300), SignatureVerdict::kMismatch);
}

TEST(WebhookSignature, MalformedHeaders) {
  for (const std::string h :
       {"v1=00", "t=abc,v1=00", "t=1", "t=1,t=2,v1=00", "garbage", "t=,v1=00"}) {
    EXPECT_EQ(verify_webhook_signature(h, "b", kSecrets, kNow, 300), SignatureVerdict::kMalformed)
        << h;
  }
  EXPECT_EQ(verify_webhook_signature("", "b", kSecrets, kNow, 300), SignatureVerdict::kMissing);
  EXPECT_EQ(verify_webhook_signature("  ", "b", kSecrets, kNow, 300), SignatureVerdict::kMissing);
}

TEST(WebhookSignature, NoSecretsNeverVerifies) {
  const auto header = sign_webhook("b", "", kNow);
  EXPECT_EQ(verify_webhook_signature(header, "b", {}, kNow, 300), SignatureVerdict::kMismatch);
}

}  // namespace
}  // namespace ticketd::payments
