#include "modules/iam/service.hpp"

#include <chrono>
#include <functional>

#include "core/errors.hpp"
#include "core/ids.hpp"
#include "core/log.hpp"
#include "modules/iam/passwords.hpp"

namespace ticketd::iam {

namespace asio = boost::asio;
using core::ApiError;
using core::ErrorKind;

namespace {

std::int64_t now_unix() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

ApiError invalid_credentials() {
  return ApiError(ErrorKind::kUnauthenticated, "INVALID_CREDENTIALS", "Invalid email or password");
}

ApiError invalid_refresh() {
  return ApiError(ErrorKind::kUnauthenticated, "INVALID_REFRESH_TOKEN",
                  "Refresh token is invalid, expired or revoked");
}

ApiError invalid_token(std::string_view why) {
  return ApiError(ErrorKind::kUnauthenticated, "INVALID_TOKEN", "Access token is invalid",
                  {{"INVALID_TOKEN", "Authorization", std::string(why)}});
}

}  // namespace

std::optional<std::string> normalize_email(std::string_view raw) {
  while (!raw.empty() && (raw.front() == ' ' || raw.front() == '\t')) raw.remove_prefix(1);
  while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\t')) raw.remove_suffix(1);
  if (raw.empty() || raw.size() > 254) return std::nullopt;
  std::string out;
  out.reserve(raw.size());
  for (char c : raw) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return std::nullopt;
    out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  const auto at = out.find('@');
  if (at == 0 || at == std::string::npos || out.find('@', at + 1) != std::string::npos)
    return std::nullopt;
  const auto dot = out.find('.', at + 2);
  if (dot == std::string::npos || dot + 1 >= out.size()) return std::nullopt;
  return out;
}

Service::Service(Repository& repo, core::CpuPool& cpu, Settings settings)
    : repo_(repo),
      cpu_(cpu),
      settings_(std::move(settings)),
      dummy_hash_(hash_password(core::random_hex(16))) {}

NewSession Service::new_session(const std::string& user_id, const std::string& family_id,
                                const std::string& token, const ClientInfo& client) const {
  return NewSession{user_id, family_id, token_hash(token), settings_.refresh_ttl_seconds, client};
}

asio::awaitable<AuthResult> Service::issue(LoadedPrincipal loaded, std::string refresh_token) {
  AuthResult out;
  out.access_token = issue_access_token(
      settings_.tokens,
      AccessClaims{loaded.user.id, loaded.principal.session_id, core::new_uuid(), 0}, now_unix());
  out.refresh_token = std::move(refresh_token);
  out.expires_in = settings_.tokens.access_ttl_seconds;
  out.user = std::move(loaded.user);
  out.authorization = std::move(loaded.authorization);
  co_return out;
}

asio::awaitable<AuthResult> Service::register_user(RegisterInput input, ClientInfo client) {
  std::string password = std::move(input.password);
  std::string hash;
  std::function<void()> job = [&hash, &password] { hash = hash_password(password); };
  co_await cpu_.run(std::move(job));
  const std::string family = core::new_uuid();
  const std::string token = random_token();
  // Arguments are named, never temporaries inside co_await: GCC 12 destroys some temporaries
  // of a co_await operand twice.
  NewSession session = new_session("", family, token, client);
  auto user = co_await repo_.create_user(input.email, std::move(hash), input.display_name,
                                         std::move(session));
  if (!user) {
    throw ApiError(ErrorKind::kConflict, "EMAIL_TAKEN", "An account with this email already exists",
                   {{"EMAIL_TAKEN", "email", "Email is already registered"}});
  }
  core::log::info("user registered", {{"userId", user->id}});
  auto loaded = co_await repo_.load_principal(user->id, family);
  if (!loaded) throw std::runtime_error("registered user vanished");
  co_return co_await issue(std::move(*loaded), token);
}

asio::awaitable<AuthResult> Service::login(std::string email, std::string password,
                                           ClientInfo client) {
  if (throttle_.check) {
    std::string address = email;
    co_await throttle_.check(std::move(address));
  }
  auto creds = co_await repo_.find_credentials(email);
  // Unknown users cost the same Argon2id verification as known ones.
  const std::string& hash = creds ? creds->password_hash : dummy_hash_;
  bool ok = false;
  std::function<void()> job = [&ok, &hash, &password] { ok = verify_password(hash, password); };
  co_await cpu_.run(std::move(job));
  if (!creds || !ok || !creds->active) {
    if (throttle_.failed) {
      std::string address = email;
      co_await throttle_.failed(std::move(address));
    }
    throw invalid_credentials();
  }
  const std::string family = core::new_uuid();
  const std::string token = random_token();
  NewSession session = new_session(creds->user.id, family, token, client);
  co_await repo_.create_session(std::move(session));
  auto loaded = co_await repo_.load_principal(creds->user.id, family);
  if (!loaded) throw invalid_credentials();
  co_return co_await issue(std::move(*loaded), token);
}

asio::awaitable<AuthResult> Service::refresh(std::string refresh_token, ClientInfo client) {
  if (refresh_token.empty() || refresh_token.size() > 512) throw invalid_refresh();
  const std::string old_hash = token_hash(refresh_token);
  const std::string next = random_token();
  std::string next_hash = token_hash(next);
  auto rotated = co_await repo_.rotate_session(old_hash, std::move(next_hash),
                                               settings_.refresh_ttl_seconds, client);
  if (!rotated) {
    const bool revoked = co_await repo_.revoke_family_of_reused(old_hash);
    if (revoked) {
      core::log::warn("refresh token reused: session family revoked", {{"ip", client.ip}});
      // Which family is not known here; theft detection is rare, so forget every session.
      forget_if([](const std::string&) { return true; });
    }
    throw invalid_refresh();
  }
  auto loaded = co_await repo_.load_principal(rotated->first, rotated->second);
  if (!loaded) throw invalid_refresh();
  co_return co_await issue(std::move(*loaded), next);
}

asio::awaitable<void> Service::logout(const core::Principal* caller,
                                      std::optional<std::string> refresh_token) {
  std::optional<std::string> family;
  if (caller != nullptr && !caller->session_id.empty()) family = caller->session_id;
  if (!family && refresh_token && !refresh_token->empty() && refresh_token->size() <= 512) {
    std::string hash = token_hash(*refresh_token);
    family = co_await repo_.family_of(std::move(hash));
  }
  if (!family) throw invalid_refresh();
  co_await repo_.revoke_family(*family, "LOGOUT");
  const std::string suffix = "|" + *family;
  forget_if([&suffix](const std::string& key) { return key.ends_with(suffix); });
}

std::optional<LoadedPrincipal> Service::cached(const std::string& key) {
  if (settings_.principal_cache_ttl.count() == 0) return std::nullopt;
  std::lock_guard lock(cache_mutex_);
  auto it = cache_.find(key);
  if (it == cache_.end() || it->second.expires <= std::chrono::steady_clock::now()) {
    return std::nullopt;
  }
  return it->second.loaded;
}

void Service::remember(const std::string& key, const LoadedPrincipal& loaded) {
  if (settings_.principal_cache_ttl.count() == 0) return;
  std::lock_guard lock(cache_mutex_);
  if (cache_.size() >= kMaxCached) cache_.clear();  // bounded; refilled by the next requests
  cache_[key] = Cached{loaded, std::chrono::steady_clock::now() + settings_.principal_cache_ttl};
}

void Service::forget_if(const std::function<bool(const std::string& key)>& pred) {
  std::lock_guard lock(cache_mutex_);
  std::erase_if(cache_, [&pred](const auto& entry) { return pred(entry.first); });
}

void Service::forget_user(const std::string& user_id) {
  const std::string prefix = user_id + "|";
  forget_if([&prefix](const std::string& key) { return key.starts_with(prefix); });
}

AccessClaims Service::verified_claims(std::string_view bearer) const {
  auto verified = verify_access_token(settings_.tokens, bearer, now_unix());
  if (!verified.claims) {
    switch (*verified.problem) {
      case TokenProblem::kExpired:
        throw invalid_token("Token has expired");
      case TokenProblem::kWrongAudience:
      case TokenProblem::kWrongIssuer:
        throw invalid_token("Token was not issued for this API");
      default:
        throw invalid_token("Token is malformed or its signature is invalid");
    }
  }
  if (!core::is_uuid(verified.claims->user_id) || !core::is_uuid(verified.claims->session_id)) {
    throw invalid_token("Token is malformed or its signature is invalid");
  }
  return std::move(*verified.claims);
}

core::Principal Service::identify(std::string_view bearer) const {
  AccessClaims claims = verified_claims(bearer);
  core::Principal caller;
  caller.user_id = std::move(claims.user_id);
  caller.session_id = std::move(claims.session_id);
  return caller;
}

asio::awaitable<LoadedPrincipal> Service::authenticate(std::string_view bearer) {
  const AccessClaims claims = verified_claims(bearer);
  const std::string key = claims.user_id + "|" + claims.session_id;
  if (auto hit = cached(key)) {
    hit->from_cache = true;
    co_return std::move(*hit);
  }
  auto loaded = co_await repo_.load_principal(claims.user_id, claims.session_id);
  if (!loaded) throw invalid_token("Session has ended");
  remember(key, *loaded);
  co_return std::move(*loaded);
}

asio::awaitable<core::Principal> Service::authenticate_api_key(std::string_view key) {
  if (key.empty() || key.size() > 200) {
    throw ApiError(ErrorKind::kUnauthenticated, "INVALID_API_KEY", "API key is invalid");
  }
  std::string hash = token_hash(key);
  auto p = co_await repo_.load_api_key(std::move(hash));
  if (!p) throw ApiError(ErrorKind::kUnauthenticated, "INVALID_API_KEY", "API key is invalid");
  co_return std::move(*p);
}

asio::awaitable<LoadedPrincipal> Service::describe(const core::Principal& caller) {
  if (caller.user_id.empty()) {
    throw ApiError(ErrorKind::kForbidden, "USER_REQUIRED", "API keys have no user profile");
  }
  auto loaded = co_await repo_.load_principal(caller.user_id, caller.session_id);
  if (!loaded) throw invalid_token("Session has ended");
  remember(caller.user_id + "|" + caller.session_id, *loaded);  // /me refreshes the cache
  co_return std::move(*loaded);
}

asio::awaitable<bool> Service::grant_super_admin(std::string email, std::string actor) {
  auto normalized = normalize_email(email);
  if (!normalized) co_return false;
  co_return co_await repo_.grant_super_admin(*normalized, std::move(actor));
}

}  // namespace ticketd::iam
