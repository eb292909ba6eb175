#pragma once
// Registration, login, token rotation, logout and request authentication. No HTTP types here.
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "core/cpu_pool.hpp"
#include "core/principal.hpp"
#include "modules/iam/model.hpp"
#include "modules/iam/repository.hpp"
#include "modules/iam/tokens.hpp"

namespace ticketd::iam {

struct Settings {
  TokenSettings tokens;
  std::int64_t refresh_ttl_seconds = 30 * 86400;
  // How long a session's loaded rights are reused (AUTH_CACHE_TTL_MS; 0 = load on every
  // request). Changes made through this instance apply at once; changes made elsewhere (another
  // instance's logout, a role granted from the command line) within this time.
  std::chrono::milliseconds principal_cache_ttl{1'000};
};

struct RegisterInput {
  std::string email;  // already normalized (trimmed, lowercased)
  std::string password;
  std::optional<std::string> display_name;
};

// The failed-login limit per e-mail address, kept outside iam (modules/ratelimit): check()
// throws (429) when the address has no failed attempt left, failed() spends one. Both unset: no
// limit.
struct LoginThrottle {
  std::function<boost::asio::awaitable<void>(std::string email)> check;
  std::function<boost::asio::awaitable<void>(std::string email)> failed;
};

class Service {
 public:
  Service(Repository& repo, core::CpuPool& cpu, Settings settings);

  // Before the first request.
  void throttle_logins(LoginThrottle throttle) { throttle_ = std::move(throttle); }

  // Throws ApiError 409 EMAIL_TAKEN.
  boost::asio::awaitable<AuthResult> register_user(RegisterInput input, ClientInfo client);
  // Throws ApiError 401 INVALID_CREDENTIALS for an unknown email and a bad password alike, after
  // the same Argon2id work (a dummy hash is verified for unknown emails); 429 RATE_LIMITED,
  // before that work, once the address has spent its failed attempts (LoginThrottle).
  boost::asio::awaitable<AuthResult> login(std::string email, std::string password,
                                           ClientInfo client);
  // Rotates the pair. A token that was already rotated revokes its whole family (theft
  // detection). Throws ApiError 401 INVALID_REFRESH_TOKEN.
  boost::asio::awaitable<AuthResult> refresh(std::string refresh_token, ClientInfo client);
  // Revokes the caller's session family, or the family of `refresh_token` when no caller.
  // Throws 401 when neither identifies a live session.
  boost::asio::awaitable<void> logout(const core::Principal* caller,
                                      std::optional<std::string> refresh_token);
  // Verifies a Bearer token and loads the caller's rights (one query). Throws ApiError 401
  // INVALID_TOKEN (expired, tampered, wrong audience, revoked session, disabled user).
  boost::asio::awaitable<LoadedPrincipal> authenticate(std::string_view bearer);
  // Verifies a Bearer token (signature, expiry, issuer, audience) and nothing else: the caller's
  // user and session, without rights and without the session lookup, so a revoked session or a
  // disabled user is noticed only when the token expires (JWT_EXPIRES_IN). Only for routes that
  // must not touch the database and grant nothing a fully authenticated request does not check
  // again: the waiting room (its admission token is worth a reserve, which authenticates).
  core::Principal identify(std::string_view bearer) const;
  // Authenticates an `X-Api-Key` as its organization's service account. Throws 401
  // INVALID_API_KEY for unknown, revoked or expired keys.
  boost::asio::awaitable<core::Principal> authenticate_api_key(std::string_view key);
  // For /me.
  boost::asio::awaitable<LoadedPrincipal> describe(const core::Principal& caller);
  // `ticketd admin grant-super-admin` and BOOTSTRAP_SUPER_ADMIN_EMAIL. False when no such user.
  boost::asio::awaitable<bool> grant_super_admin(std::string email, std::string actor);

  // Drops the cached rights of a user whose memberships or roles just changed.
  void forget_user(const std::string& user_id);

 private:
  // The claims of a valid access token; throws ApiError 401 INVALID_TOKEN.
  AccessClaims verified_claims(std::string_view bearer) const;
  boost::asio::awaitable<AuthResult> issue(LoadedPrincipal loaded, std::string refresh_token);
  NewSession new_session(const std::string& user_id, const std::string& family_id,
                         const std::string& token, const ClientInfo& client) const;

  // Sessions' loaded rights, so an authenticated request costs no query while fresh.
  struct Cached {
    LoadedPrincipal loaded;
    std::chrono::steady_clock::time_point expires;
  };
  std::optional<LoadedPrincipal> cached(const std::string& key);
  void remember(const std::string& key, const LoadedPrincipal& loaded);
  void forget_if(const std::function<bool(const std::string& key)>& pred);

  Repository& repo_;
  core::CpuPool& cpu_;
  Settings settings_;
  std::mutex cache_mutex_;
  std::unordered_map<std::string, Cached> cache_;  // "userId|sessionFamilyId"
  static constexpr std::size_t kMaxCached = 100'000;
  std::string dummy_hash_;  // verified for unknown emails so both failures cost the same
  LoginThrottle throttle_;
};

// Trims and lowercases an email; nullopt when it does not look like one (or exceeds 254).
std::optional<std::string> normalize_email(std::string_view raw);

}  // namespace ticketd::iam
