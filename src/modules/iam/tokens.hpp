#pragma once
// Access tokens (JWT HS256 via libjwt) and opaque refresh tokens. Pure logic: the clock is a
// parameter so unit tests control time.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ticketd::iam {

// "900", "30s", "15m", "1h", "1d" → seconds; nullopt for anything else (or a non-positive value).
std::optional<std::int64_t> parse_duration_seconds(std::string_view text);

struct TokenSettings {
  std::string secret;  // signs and verifies
  std::string issuer = "ticketd";
  std::string audience = "ticketd-api";
  std::int64_t access_ttl_seconds = 900;
  // Earlier secrets (JWT_SECRET_PREVIOUS): tokens they signed still verify until they expire.
  std::vector<std::string> previous_secrets;
};

struct AccessClaims {
  std::string user_id;     // sub
  std::string session_id;  // sid: the refresh-token family
  std::string token_id;    // jti
  std::int64_t expires_at = 0;
};

// Signs an access token valid from `now` for settings.access_ttl_seconds.
std::string issue_access_token(const TokenSettings& settings, const AccessClaims& claims,
                               std::int64_t now_unix);

enum class TokenProblem {
  kMalformed,
  kBadSignature,
  kWrongAlgorithm,
  kExpired,
  kWrongIssuer,
  kWrongAudience,
  kMissingClaims
};

struct VerifyResult {
  std::optional<AccessClaims> claims;
  std::optional<TokenProblem> problem;
};

// Verifies signature (HS256 only: `alg: none` and every other algorithm are refused) with the
// secret or one of the previous ones, expiry (with no leeway), issuer and audience.
VerifyResult verify_access_token(const TokenSettings& settings, std::string_view token,
                                 std::int64_t now_unix);

// The token of an `Authorization: Bearer <token>` header (RFC 6750: scheme case-insensitive,
// one or more spaces, token68 characters only), or nullopt.
std::optional<std::string_view> bearer_token(std::string_view authorization);

// 32 random bytes, base64url without padding: the opaque refresh token / API key secret.
std::string random_token();
// Hex SHA-256 of a token: what the database stores (tokens are high-entropy, so no salt).
std::string token_hash(std::string_view token);

}  // namespace ticketd::iam
