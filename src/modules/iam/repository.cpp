#include "modules/iam/repository.hpp"

#include <boost/json/parse.hpp>

#include "infra/pg/sql.hpp"

namespace ticketd::iam {

namespace asio = boost::asio;
using infra::pg::Params;
using infra::pg::Statement;

namespace {

// Register: user, its global role USER and its first session commit together. Registration
// never grants more (SUPER_ADMIN only from the command line or the start-up bootstrap).
constexpr Statement kCreateUser{"iam_create_user", R"sql(
WITH u AS (
  INSERT INTO users (email, password_hash, display_name) VALUES ($1, $2, $3)
  ON CONFLICT (email) DO NOTHING
  RETURNING id, email, display_name, created_at
), r AS (
  INSERT INTO user_roles (user_id, role_id)
  SELECT u.id, roles.id FROM u, roles WHERE roles.name = 'USER'
), s AS (
  INSERT INTO auth_sessions (user_id, family_id, refresh_token_hash, expires_at, user_agent, ip)
  SELECT u.id, $4, $5, now() + make_interval(secs => $6), NULLIF($7, ''), NULLIF($8, '')::inet FROM u
)
SELECT id, email, display_name, )sql" TICKETD_SQL_ISO8601("created_at") R"sql( FROM u)sql"};

constexpr Statement kFindCredentials{"iam_find_credentials",
                                     R"sql(
SELECT id, email, display_name, )sql" TICKETD_SQL_ISO8601(
                                         "created_at") R"sql(, password_hash, status = 'ACTIVE'
FROM users WHERE email = $1)sql"};

constexpr Statement kCreateSession{"iam_create_session", R"sql(
INSERT INTO auth_sessions (user_id, family_id, refresh_token_hash, expires_at, user_agent, ip)
VALUES ($1, $2, $3, now() + make_interval(secs => $4), NULLIF($5, ''), NULLIF($6, '')::inet))sql"};

// Rotation is one conditional update plus the insert of its successor: two concurrent refreshes
// of the same token cannot both succeed (the second finds it ROTATED).
constexpr Statement kRotateSession{"iam_rotate_session", R"sql(
WITH cur AS (
  UPDATE auth_sessions s SET status = 'ROTATED', rotated_at = now()
  FROM users u
  WHERE s.refresh_token_hash = $1 AND s.status = 'ACTIVE' AND s.expires_at > now()
    AND u.id = s.user_id AND u.status = 'ACTIVE'
  RETURNING s.id, s.user_id, s.family_id
)
INSERT INTO auth_sessions (user_id, family_id, refresh_token_hash, parent_id, expires_at, user_agent, ip)
SELECT user_id, family_id, $2, id, now() + make_interval(secs => $3), NULLIF($4, ''), NULLIF($5, '')::inet
FROM cur
RETURNING user_id, family_id)sql"};

constexpr Statement kRevokeReusedFamily{"iam_revoke_reused_family", R"sql(
UPDATE auth_sessions SET status = 'REVOKED', revoked_at = now(), revoke_reason = 'REFRESH_TOKEN_REUSED'
WHERE family_id = (SELECT family_id FROM auth_sessions WHERE refresh_token_hash = $1 AND status = 'ROTATED')
  AND status <> 'REVOKED'
RETURNING id)sql"};

constexpr Statement kRevokeFamily{"iam_revoke_family", R"sql(
UPDATE auth_sessions SET status = 'REVOKED', revoked_at = now(), revoke_reason = $2
WHERE family_id = $1 AND status <> 'REVOKED')sql"};

constexpr Statement kFamilyOf{"iam_family_of", R"sql(
SELECT family_id FROM auth_sessions
WHERE refresh_token_hash = $1 AND status = 'ACTIVE' AND expires_at > now())sql"};

// Everything authorization needs, in one round trip per authenticated request.
constexpr Statement kLoadPrincipal{"iam_load_principal", R"sql(
SELECT u.id, u.email, u.display_name, )sql" TICKETD_SQL_ISO8601("u.created_at") R"sql(,
  COALESCE((SELECT json_agg(r.name ORDER BY r.name) FROM user_roles ur JOIN roles r ON r.id = ur.role_id
            WHERE ur.user_id = u.id), '[]'),
  COALESCE((SELECT json_agg(json_build_object('orgId', m.org_id, 'role', m.role, 'name', o.name, 'slug', o.slug)
                            ORDER BY o.name)
            FROM organization_members m JOIN organizations o ON o.id = m.org_id
            WHERE m.user_id = u.id), '[]')
FROM users u
WHERE u.id = $1 AND u.status = 'ACTIVE'
  AND EXISTS (SELECT 1 FROM auth_sessions s WHERE s.family_id = $2 AND s.user_id = u.id
                AND s.status <> 'REVOKED'))sql"};

constexpr Statement kGrantSuperAdmin{"iam_grant_super_admin", R"sql(
WITH u AS (SELECT id FROM users WHERE email = $1),
g AS (
  INSERT INTO user_roles (user_id, role_id)
  SELECT u.id, r.id FROM u, roles r WHERE r.name = 'SUPER_ADMIN'
  ON CONFLICT DO NOTHING
  RETURNING user_id
), a AS (
  INSERT INTO audit_logs (action, resource_type, resource_id, details)
  SELECT 'user.super_admin_granted', 'user', g.user_id, json_build_object('grantedBy', $2::text) FROM g
)
SELECT id FROM u)sql"};

constexpr Statement kLoadApiKey{"iam_load_api_key", R"sql(
SELECT id, org_id, role FROM api_keys
WHERE key_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now()))sql"};

User user_from(const infra::pg::Result& r, int row) {
  return User{r.string(row, 0), r.string(row, 1), r.opt_string(row, 2), r.string(row, 3)};
}

}  // namespace

asio::awaitable<std::optional<User>> Repository::create_user(
    std::string email, std::string password_hash, std::optional<std::string> display_name,
    NewSession s) {
  auto r = co_await pool_.query(
      kCreateUser, Params(email, password_hash, display_name, s.family_id, s.token_hash,
                          s.ttl_seconds, s.client.user_agent, s.client.ip));
  if (r.empty()) co_return std::nullopt;
  co_return user_from(r, 0);
}

asio::awaitable<std::optional<Credentials>> Repository::find_credentials(std::string email) {
  auto r = co_await pool_.query(kFindCredentials, Params(email));
  if (r.empty()) co_return std::nullopt;
  co_return Credentials{user_from(r, 0), r.string(0, 4), r.boolean(0, 5)};
}

asio::awaitable<void> Repository::create_session(NewSession s) {
  co_await pool_.query(kCreateSession, Params(s.user_id, s.family_id, s.token_hash, s.ttl_seconds,
                                              s.client.user_agent, s.client.ip));
}

asio::awaitable<std::optional<std::pair<std::string, std::string>>> Repository::rotate_session(
    std::string old_hash, std::string new_hash, std::int64_t ttl_seconds, ClientInfo client) {
  auto r = co_await pool_.query(
      kRotateSession, Params(old_hash, new_hash, ttl_seconds, client.user_agent, client.ip));
  if (r.empty()) co_return std::nullopt;
  co_return std::make_pair(r.string(0, 0), r.string(0, 1));
}

asio::awaitable<bool> Repository::revoke_family_of_reused(std::string token_hash) {
  auto r = co_await pool_.query(kRevokeReusedFamily, Params(token_hash));
  co_return !r.empty();
}

asio::awaitable<void> Repository::revoke_family(std::string family_id, std::string reason) {
  co_await pool_.query(kRevokeFamily, Params(family_id, reason));
}

asio::awaitable<std::optional<std::string>> Repository::family_of(std::string token_hash) {
  auto r = co_await pool_.query(kFamilyOf, Params(token_hash));
  if (r.empty()) co_return std::nullopt;
  co_return r.string(0, 0);
}

asio::awaitable<std::optional<LoadedPrincipal>> Repository::load_principal(std::string user_id,
                                                                           std::string family_id) {
  auto r = co_await pool_.query(kLoadPrincipal, Params(user_id, family_id));
  if (r.empty()) co_return std::nullopt;
  LoadedPrincipal out;
  out.user = user_from(r, 0);
  out.principal.user_id = out.user.id;
  out.principal.email = out.user.email;
  out.principal.session_id = family_id;
  // Named: a range-for over .as_array() of a temporary would iterate a destroyed value.
  const boost::json::value roles = boost::json::parse(r.text(0, 4));
  const boost::json::value memberships = boost::json::parse(r.text(0, 5));
  for (const auto& v : roles.as_array()) {
    out.principal.global_roles.emplace_back(v.as_string());
  }
  out.authorization.roles = out.principal.global_roles;
  for (const auto& v : memberships.as_array()) {
    const auto& m = v.as_object();
    Membership ms{std::string(m.at("orgId").as_string()), std::string(m.at("name").as_string()),
                  std::string(m.at("slug").as_string()), std::string(m.at("role").as_string())};
    if (auto role = parse_org_role(ms.role)) out.principal.memberships.emplace(ms.org_id, *role);
    out.authorization.memberships.push_back(std::move(ms));
  }
  co_return out;
}

asio::awaitable<std::optional<core::Principal>> Repository::load_api_key(std::string key_hash) {
  auto r = co_await pool_.query(kLoadApiKey, Params(key_hash));
  if (r.empty()) co_return std::nullopt;
  core::Principal p;
  p.api_key_id = r.string(0, 0);
  p.api_key_org_id = r.string(0, 1);
  p.api_key_role = parse_org_role(r.text(0, 2)).value_or(core::OrgRole::kSupport);
  co_return p;
}

asio::awaitable<bool> Repository::grant_super_admin(std::string email, std::string actor) {
  auto r = co_await pool_.query(kGrantSuperAdmin, Params(email, actor));
  co_return !r.empty();
}

}  // namespace ticketd::iam
