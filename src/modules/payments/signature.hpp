#pragma once
// Webhook signatures: header `X-Webhook-Signature: t=<unix seconds>,v1=<hex>` where
// hex = HMAC-SHA256(secret, "<t>.<raw body>"). The whole body is covered, comparison is in
// constant time, a timestamp more than `tolerance` away from now is refused (replays), and
// several v1 values and several secrets are accepted so a secret can be rotated without
// dropping webhooks.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ticketd::payments {

enum class SignatureVerdict {
  kValid,
  kMissing,    // no header
  kMalformed,  // no t or no v1, or a non-numeric t
  kStale,      // |now - t| > tolerance
  kMismatch,   // no v1 matches any secret
};

std::string_view describe(SignatureVerdict v) noexcept;

// The header value for `body` signed with `secret` at `t` (the simulated provider, tests).
std::string sign_webhook(std::string_view body, std::string_view secret, std::int64_t t);

SignatureVerdict verify_webhook_signature(std::string_view header, std::string_view body,
                                          const std::vector<std::string>& secrets, std::int64_t now,
                                          std::int64_t tolerance_seconds);

}  // namespace ticketd::payments
