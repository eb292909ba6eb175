#include "modules/iam/tokens.hpp"

#include <jwt.h>
#include <sodium.h>

#include <cctype>
#include <charconv>
#include <climits>
#include <cstdlib>
#include <memory>

#include "core/crypto.hpp"

namespace ticketd::iam {
namespace {

struct JwtFree {
  void operator()(jwt_t* j) const noexcept { jwt_free(j); }
};
using JwtPtr = std::unique_ptr<jwt_t, JwtFree>;

bool is_token68(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~' || c == '+' || c == '/' || c == '=';
}

}  // namespace

std::optional<std::int64_t> parse_duration_seconds(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::int64_t multiplier = 1;
  switch (text.back()) {
    case 's':
      text.remove_suffix(1);
      break;
    case 'm':
      multiplier = 60;
      text.remove_suffix(1);
      break;
    case 'h':
      multiplier = 3600;
      text.remove_suffix(1);
      break;
    case 'd':
      multiplier = 86400;
      text.remove_suffix(1);
      break;
    default:
      break;
  }
  std::int64_t n = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc{} || p != text.data() + text.size() || text.empty() || n <= 0)
    return std::nullopt;
  if (n > INT64_MAX / multiplier) return std::nullopt;
  return n * multiplier;
}

std::string issue_access_token(const TokenSettings& s, const AccessClaims& c, std::int64_t now) {
  jwt_t* raw = nullptr;
  if (jwt_new(&raw) != 0) throw std::bad_alloc();
  JwtPtr jwt(raw);
  jwt_add_grant(raw, "sub", c.user_id.c_str());
  jwt_add_grant(raw, "sid", c.session_id.c_str());
  jwt_add_grant(raw, "jti", c.token_id.c_str());
  jwt_add_grant(raw, "iss", s.issuer.c_str());
  jwt_add_grant(raw, "aud", s.audience.c_str());
  jwt_add_grant_int(raw, "iat", static_cast<long>(now));
  jwt_add_grant_int(raw, "exp", static_cast<long>(now + s.access_ttl_seconds));
  if (jwt_set_alg(raw, JWT_ALG_HS256, reinterpret_cast<const unsigned char*>(s.secret.data()),
                  static_cast<int>(s.secret.size())) != 0) {
    throw std::runtime_error("jwt_set_alg failed");
  }
  char* out = jwt_encode_str(raw);
  if (out == nullptr) throw std::runtime_error("jwt_encode_str failed");
  std::string token(out);
  std::free(out);
  return token;
}

VerifyResult verify_access_token(const TokenSettings& s, std::string_view token, std::int64_t now) {
  VerifyResult r;
  // Three base64url parts; anything else never reaches libjwt.
  std::size_t dots = 0;
  for (char c : token) {
    if (c == '.') {
      ++dots;
    } else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '_')) {
      r.problem = TokenProblem::kMalformed;
      return r;
    }
  }
  if (dots != 2 || token.size() > 4096) {
    r.problem = TokenProblem::kMalformed;
    return r;
  }
  const std::string text(token);
  // With a key, libjwt checks the signature; it still accepts "alg":"none" tokens in some
  // versions, so the algorithm is checked explicitly below. The current secret first, then the
  // previous ones (a rotation in progress).
  auto decode = [&text](const std::string& secret) {
    jwt_t* raw = nullptr;
    const int rc =
        jwt_decode(&raw, text.c_str(), reinterpret_cast<const unsigned char*>(secret.data()),
                   static_cast<int>(secret.size()));
    JwtPtr decoded(raw);
    if (rc != 0) decoded.reset();
    return decoded;
  };
  JwtPtr jwt = decode(s.secret);
  for (std::size_t i = 0; !jwt && i < s.previous_secrets.size(); ++i) {
    jwt = decode(s.previous_secrets[i]);
  }
  if (!jwt) {
    r.problem = TokenProblem::kBadSignature;
    return r;
  }
  jwt_t* raw = jwt.get();
  if (jwt_get_alg(raw) != JWT_ALG_HS256) {
    r.problem = TokenProblem::kWrongAlgorithm;
    return r;
  }
  const char* sub = jwt_get_grant(raw, "sub");
  const char* sid = jwt_get_grant(raw, "sid");
  const char* jti = jwt_get_grant(raw, "jti");
  const char* iss = jwt_get_grant(raw, "iss");
  const char* aud = jwt_get_grant(raw, "aud");
  const long exp = jwt_get_grant_int(raw, "exp");
  if (sub == nullptr || sid == nullptr || jti == nullptr || exp <= 0) {
    r.problem = TokenProblem::kMissingClaims;
    return r;
  }
  if (iss == nullptr || s.issuer != iss) {
    r.problem = TokenProblem::kWrongIssuer;
    return r;
  }
  if (aud == nullptr || s.audience != aud) {
    r.problem = TokenProblem::kWrongAudience;
    return r;
  }
  if (exp <= now) {
    r.problem = TokenProblem::kExpired;
    return r;
  }
  r.claims = AccessClaims{sub, sid, jti, exp};
  return r;
}

std::optional<std::string_view> bearer_token(std::string_view h) {
  constexpr std::string_view kScheme = "bearer";
  if (h.size() <= kScheme.size() + 1) return std::nullopt;
  for (std::size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(h[i])) != kScheme[i]) return std::nullopt;
  }
  std::size_t i = kScheme.size();
  if (h[i] != ' ') return std::nullopt;
  while (i < h.size() && h[i] == ' ') ++i;
  const std::string_view token = h.substr(i);
  if (token.empty()) return std::nullopt;
  // token68: its characters, with '=' only as trailing padding.
  bool padding = false;
  for (char c : token) {
    if (!is_token68(c)) return std::nullopt;
    if (c == '=') {
      padding = true;
    } else if (padding) {
      return std::nullopt;
    }
  }
  return token;
}

std::string random_token() {
  unsigned char bytes[32];
  randombytes_buf(bytes, sizeof bytes);
  char out[sodium_base64_ENCODED_LEN(sizeof bytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
  sodium_bin2base64(out, sizeof out, bytes, sizeof bytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  return out;
}

std::string token_hash(std::string_view token) {
  return core::sha256_hex(token);
}

}  // namespace ticketd::iam
