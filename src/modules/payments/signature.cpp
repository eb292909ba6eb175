#include "modules/payments/signature.hpp"

#include <charconv>

#include "core/crypto.hpp"
#include "core/strings.hpp"

namespace ticketd::payments {

namespace {

using core::trim;

constexpr std::size_t kMaxSignatures = 8;

}  // namespace

std::string_view describe(SignatureVerdict v) noexcept {
  switch (v) {
    case SignatureVerdict::kValid:
      return "valid";
    case SignatureVerdict::kMissing:
      return "missing X-Webhook-Signature header";
    case SignatureVerdict::kMalformed:
      return "malformed X-Webhook-Signature header";
    case SignatureVerdict::kStale:
      return "signature timestamp outside the tolerance window";
    case SignatureVerdict::kMismatch:
      return "signature does not match";
  }
  return "invalid";
}

std::string sign_webhook(std::string_view body, std::string_view secret, std::int64_t t) {
  const std::string ts = std::to_string(t);
  std::string message = ts;
  message += '.';
  message += body;
  return "t=" + ts + ",v1=" + core::hmac_sha256_hex(secret, message);
}

SignatureVerdict verify_webhook_signature(std::string_view header, std::string_view body,
                                          const std::vector<std::string>& secrets, std::int64_t now,
                                          std::int64_t tolerance_seconds) {
  header = trim(header);
  if (header.empty()) return SignatureVerdict::kMissing;
  std::string_view t_text;
  std::vector<std::string_view> v1;
  while (!header.empty()) {
    const auto comma = header.find(',');
    const auto part = trim(header.substr(0, comma));
    header = comma == std::string_view::npos ? std::string_view{} : header.substr(comma + 1);
    const auto eq = part.find('=');
    if (eq == std::string_view::npos) return SignatureVerdict::kMalformed;
    const auto key = part.substr(0, eq);
    const auto value = part.substr(eq + 1);
    if (key == "t") {
      if (!t_text.empty()) return SignatureVerdict::kMalformed;
      t_text = value;
    } else if (key == "v1") {
      if (v1.size() == kMaxSignatures) return SignatureVerdict::kMalformed;
      v1.push_back(value);
    }  // other schemes (v0, future versions) are ignored, as providers document
  }
  std::int64_t t = 0;
  const auto [end, ec] = std::from_chars(t_text.data(), t_text.data() + t_text.size(), t);
  if (t_text.empty() || ec != std::errc() || end != t_text.data() + t_text.size() || v1.empty()) {
    return SignatureVerdict::kMalformed;
  }
  if (t < now - tolerance_seconds || t > now + tolerance_seconds) return SignatureVerdict::kStale;
  std::string message(t_text);
  message += '.';
  message += body;
  bool match = false;
  for (const auto& secret : secrets) {
    const auto expected = core::hmac_sha256_hex(secret, message);
    // Every candidate is compared (no early exit) so timing says nothing about which matched.
    for (const auto candidate : v1) match |= core::constant_time_equal(expected, candidate);
  }
  return match ? SignatureVerdict::kValid : SignatureVerdict::kMismatch;
}

}  // namespace ticketd::payments
