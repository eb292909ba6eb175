#include "modules/organizations/repository.hpp"

#include "core/outcome.hpp"
#include "infra/pg/errors.hpp"
#include "infra/pg/sql.hpp"

namespace ticketd::organizations {

namespace asio = boost::asio;
using infra::pg::Params;
using infra::pg::Statement;

namespace {

constexpr Statement kCreate{"org_create", R"sql(
WITH o AS (
  INSERT INTO organizations (name, slug, created_by) VALUES ($1, $2, $3)
  ON CONFLICT (slug) DO NOTHING
  RETURNING id, name, slug, created_at
), m AS (
  INSERT INTO organization_members (org_id, user_id, role) SELECT o.id, $3, 'ORG_ADMIN' FROM o
), a AS (
  INSERT INTO audit_logs (org_id, actor_user_id, action, resource_type, resource_id, details, request_id, ip)
  SELECT o.id, $3, 'organization.created', 'organization', o.id,
         jsonb_build_object('slug', o.slug), $4, NULLIF($5, '')::inet FROM o
)
SELECT id, name, slug, )sql" TICKETD_SQL_ISO8601("created_at") R"sql( FROM o)sql"};

constexpr Statement kFind{"org_find",
                          R"sql(
SELECT id, name, slug, )sql" TICKETD_SQL_ISO8601(
                              "created_at") R"sql( FROM organizations WHERE id = $1)sql"};

constexpr Statement kList{"org_list", R"sql(
SELECT o.id, o.name, o.slug, )sql" TICKETD_SQL_ISO8601("o.created_at") R"sql(, count(*) OVER ()
FROM organizations o
WHERE $2::boolean OR EXISTS (SELECT 1 FROM organization_members m WHERE m.org_id = o.id AND m.user_id = $1)
ORDER BY o.name, o.id
LIMIT $3 OFFSET $4)sql"};

constexpr Statement kCount{"org_count", R"sql(
SELECT count(*) FROM organizations o
WHERE $2::boolean OR EXISTS (SELECT 1 FROM organization_members m WHERE m.org_id = o.id AND m.user_id = $1))sql"};

// Outcome codes: 'ADDED', 'UNKNOWN_USER', 'ALREADY_MEMBER'.
constexpr core::OutcomeTable<AddOutcome, 3> kAddOutcomes{
    {{"ADDED", AddOutcome::kAdded},
     {"UNKNOWN_USER", AddOutcome::kUnknownUser},
     {"ALREADY_MEMBER", AddOutcome::kAlreadyMember}}};

constexpr Statement kAddMember{"org_add_member", R"sql(
WITH u AS (
  SELECT id, email FROM users WHERE (id = $2::uuid OR email = $3) AND status = 'ACTIVE' LIMIT 1
), ins AS (
  INSERT INTO organization_members (org_id, user_id, role)
  SELECT $1, u.id, $4 FROM u
  ON CONFLICT (org_id, user_id) DO NOTHING
  RETURNING org_id, user_id, role, created_at
), a AS (
  INSERT INTO audit_logs (org_id, actor_user_id, actor_api_key_id, action, resource_type, resource_id, details, request_id, ip)
  SELECT $1, NULLIF($5, '')::uuid, NULLIF($6, '')::uuid, 'member.added', 'user', ins.user_id,
         jsonb_build_object('role', ins.role), $7, NULLIF($8, '')::inet FROM ins
)
SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM u) THEN 'UNKNOWN_USER'
            WHEN EXISTS (SELECT 1 FROM ins) THEN 'ADDED' ELSE 'ALREADY_MEMBER' END,
       (SELECT user_id FROM ins), (SELECT email FROM u), (SELECT role FROM ins),
       (SELECT )sql" TICKETD_SQL_ISO8601("created_at") R"sql( FROM ins))sql"};

constexpr Statement kMembers{"org_members", R"sql(
SELECT m.org_id, m.user_id, u.email, m.role, )sql" TICKETD_SQL_ISO8601(
                                                "m.created_at") R"sql(, count(*) OVER ()
FROM organization_members m JOIN users u ON u.id = m.user_id
WHERE m.org_id = $1
ORDER BY u.email
LIMIT $2 OFFSET $3)sql"};

constexpr Statement kCountMembers{"org_count_members",
                                  "SELECT count(*) FROM organization_members WHERE org_id = $1"};

constexpr Statement kChangeRole{"org_change_role", R"sql(
WITH old AS (
  SELECT role FROM organization_members WHERE org_id = $1 AND user_id = $2 FOR UPDATE
), upd AS (
  UPDATE organization_members m SET role = $3, updated_at = now()
  FROM old WHERE m.org_id = $1 AND m.user_id = $2
  RETURNING m.org_id, m.user_id, m.role, m.created_at, old.role AS old_role
), a AS (
  INSERT INTO audit_logs (org_id, actor_user_id, actor_api_key_id, action, resource_type, resource_id, details, request_id, ip)
  SELECT $1, NULLIF($4, '')::uuid, NULLIF($5, '')::uuid, 'member.role_changed', 'user', upd.user_id,
         jsonb_build_object('from', upd.old_role, 'to', upd.role), $6, NULLIF($7, '')::inet FROM upd
)
SELECT upd.org_id, upd.user_id, u.email, upd.role, )sql" TICKETD_SQL_ISO8601(
                                                       "upd.created_at") R"sql(
FROM upd JOIN users u ON u.id = upd.user_id)sql"};

constexpr Statement kRemoveMember{"org_remove_member", R"sql(
WITH del AS (
  DELETE FROM organization_members WHERE org_id = $1 AND user_id = $2
  RETURNING user_id, role
), a AS (
  INSERT INTO audit_logs (org_id, actor_user_id, actor_api_key_id, action, resource_type, resource_id, details, request_id, ip)
  SELECT $1, NULLIF($3, '')::uuid, NULLIF($4, '')::uuid, 'member.removed', 'user', del.user_id,
         jsonb_build_object('role', del.role), $5, NULLIF($6, '')::inet FROM del
)
SELECT count(*) FROM del)sql"};

constexpr Statement kCreateKey{
    "org_create_api_key", R"sql(
WITH k AS (
  INSERT INTO api_keys (org_id, name, role, prefix, key_hash, created_by, expires_at)
  VALUES ($1, $2, $3, $4, $5, NULLIF($6, '')::uuid, $7::timestamptz)
  RETURNING *
), a AS (
  INSERT INTO audit_logs (org_id, actor_user_id, actor_api_key_id, action, resource_type, resource_id, details, request_id, ip)
  SELECT $1, NULLIF($6, '')::uuid, NULLIF($8, '')::uuid, 'api_key.created', 'api_key', k.id,
         jsonb_build_object('name', k.name, 'role', k.role), $9, NULLIF($10, '')::inet FROM k
)
SELECT id, org_id, name, role, prefix, )sql" TICKETD_SQL_ISO8601(
                              "created_at") R"sql(, )sql" TICKETD_SQL_ISO8601("expires_at") R"sql(,
       NULL::text, NULL::text FROM k)sql"};

constexpr Statement kListKeys{
    "org_list_api_keys", R"sql(
SELECT id, org_id, name, role, prefix, )sql" TICKETD_SQL_ISO8601(
                             "created_at") R"sql(, )sql" TICKETD_SQL_ISO8601("expires_at") R"sql(,
       )sql" TICKETD_SQL_ISO8601("revoked_at") R"sql(, )sql" TICKETD_SQL_ISO8601("last_used_at") R"sql(
FROM api_keys WHERE org_id = $1 ORDER BY created_at DESC, id)sql"};

constexpr Statement kRevokeKey{"org_revoke_api_key", R"sql(
WITH k AS (
  UPDATE api_keys SET revoked_at = now(), updated_at = now()
  WHERE org_id = $1 AND id = $2 AND revoked_at IS NULL
  RETURNING id
), a AS (
  INSERT INTO audit_logs (org_id, actor_user_id, actor_api_key_id, action, resource_type, resource_id, request_id, ip)
  SELECT $1, NULLIF($3, '')::uuid, NULLIF($4, '')::uuid, 'api_key.revoked', 'api_key', k.id, $5, NULLIF($6, '')::inet FROM k
)
SELECT count(*) FROM k)sql"};

Organization org_from(const infra::pg::Result& r, int row) {
  return {r.string(row, 0), r.string(row, 1), r.string(row, 2), r.string(row, 3)};
}

Member member_from(const infra::pg::Result& r, int row) {
  return {r.string(row, 0), r.string(row, 1), r.string(row, 2), r.string(row, 3), r.string(row, 4)};
}

ApiKey key_from(const infra::pg::Result& r, int row) {
  return {r.string(row, 0),     r.string(row, 1),     r.string(row, 2),
          r.string(row, 3),     r.string(row, 4),     r.string(row, 5),
          r.opt_string(row, 6), r.opt_string(row, 7), r.opt_string(row, 8)};
}

bool is_last_admin(const infra::pg::DbError& e) {
  return e.constraint() == "organization_members_last_admin";
}

}  // namespace

asio::awaitable<std::optional<Organization>> Repository::create(std::string name, std::string slug,
                                                                Actor actor) {
  auto r =
      co_await pool_.query(kCreate, Params(name, slug, actor.user_id, actor.request_id, actor.ip));
  if (r.empty()) co_return std::nullopt;
  co_return org_from(r, 0);
}

asio::awaitable<std::optional<Organization>> Repository::find(std::string org_id) {
  auto r = co_await pool_.query(kFind, Params(org_id));
  if (r.empty()) co_return std::nullopt;
  co_return org_from(r, 0);
}

asio::awaitable<core::Listing<Organization>> Repository::list(std::string user_id, bool all,
                                                              std::int64_t limit,
                                                              std::int64_t offset) {
  // Built before the co_await: GCC 12 destroys a conditional's temporary in a co_await operand
  // twice.
  std::optional<std::string> member;
  if (!user_id.empty()) member = user_id;
  const Params params(member, all, limit, offset);
  auto r = co_await pool_.query(kList, params);
  std::vector<Organization> out = infra::pg::rows_of(r, org_from);
  const std::int64_t total = co_await pool_.page_total(r, 4, offset, kCount, Params(member, all));
  co_return core::Listing<Organization>{std::move(out), total};
}

asio::awaitable<std::pair<AddOutcome, std::optional<Member>>> Repository::add_member(
    std::string org_id, std::optional<std::string> user_id, std::optional<std::string> email,
    std::string role, Actor actor) {
  auto r = co_await pool_.query(kAddMember, Params(org_id, user_id, email, role, actor.user_id,
                                                   actor.api_key_id, actor.request_id, actor.ip));
  const AddOutcome outcome = core::outcome_of(r.text(0, 0), kAddOutcomes, "org_add_member");
  if (outcome != AddOutcome::kAdded) co_return std::make_pair(outcome, std::nullopt);
  co_return std::make_pair(AddOutcome::kAdded, Member{org_id, r.string(0, 1), r.string(0, 2),
                                                      r.string(0, 3), r.string(0, 4)});
}

asio::awaitable<core::Listing<Member>> Repository::members(std::string org_id, std::int64_t limit,
                                                           std::int64_t offset) {
  auto r = co_await pool_.query(kMembers, Params(org_id, limit, offset));
  std::vector<Member> out = infra::pg::rows_of(r, member_from);
  const std::int64_t total = co_await pool_.page_total(r, 5, offset, kCountMembers, Params(org_id));
  co_return core::Listing<Member>{std::move(out), total};
}

asio::awaitable<std::pair<ChangeOutcome, std::optional<Member>>> Repository::change_role(
    std::string org_id, std::string user_id, std::string role, Actor actor) {
  std::optional<infra::pg::Result> r;
  try {
    r = co_await pool_.query(kChangeRole, Params(org_id, user_id, role, actor.user_id,
                                                 actor.api_key_id, actor.request_id, actor.ip));
  } catch (const infra::pg::DbError& e) {
    if (!is_last_admin(e)) throw;
  }
  if (!r) co_return std::make_pair(ChangeOutcome::kLastAdmin, std::nullopt);
  if (r->empty()) co_return std::make_pair(ChangeOutcome::kNotMember, std::nullopt);
  co_return std::make_pair(ChangeOutcome::kDone, member_from(*r, 0));
}

asio::awaitable<ChangeOutcome> Repository::remove_member(std::string org_id, std::string user_id,
                                                         Actor actor) {
  std::optional<infra::pg::Result> r;
  try {
    r = co_await pool_.query(kRemoveMember, Params(org_id, user_id, actor.user_id, actor.api_key_id,
                                                   actor.request_id, actor.ip));
  } catch (const infra::pg::DbError& e) {
    if (!is_last_admin(e)) throw;
  }
  if (!r) co_return ChangeOutcome::kLastAdmin;
  co_return r->int64(0, 0) == 0 ? ChangeOutcome::kNotMember : ChangeOutcome::kDone;
}

asio::awaitable<ApiKey> Repository::create_api_key(std::string org_id, std::string name,
                                                   std::string role, std::string prefix,
                                                   std::string key_hash,
                                                   std::optional<std::string> expires_at,
                                                   Actor actor) {
  auto r = co_await pool_.query(
      kCreateKey, Params(org_id, name, role, prefix, key_hash, actor.user_id, expires_at,
                         actor.api_key_id, actor.request_id, actor.ip));
  co_return key_from(r, 0);
}

asio::awaitable<std::vector<ApiKey>> Repository::api_keys(std::string org_id) {
  auto r = co_await pool_.query(kListKeys, Params(org_id));
  co_return infra::pg::rows_of(r, key_from);
}

asio::awaitable<bool> Repository::revoke_api_key(std::string org_id, std::string key_id,
                                                 Actor actor) {
  auto r = co_await pool_.query(kRevokeKey, Params(org_id, key_id, actor.user_id, actor.api_key_id,
                                                   actor.request_id, actor.ip));
  co_return r.int64(0, 0) > 0;
}

}  // namespace ticketd::organizations
