#include "modules/organizations/service.hpp"

#include "core/errors.hpp"
#include "core/ids.hpp"
#include "modules/iam/policy.hpp"
#include "modules/iam/tokens.hpp"

namespace ticketd::organizations {

namespace asio = boost::asio;
using core::ApiError;
using core::ErrorKind;
using iam::OrgAction;

namespace {

constexpr std::string_view kOrg = "Organization";

void require_user(const core::Principal& caller) {
  if (caller.user_id.empty()) {
    throw ApiError(ErrorKind::kForbidden, "USER_REQUIRED",
                   "This action needs a user, not an API key");
  }
}

}  // namespace

bool is_valid_slug(std::string_view s) noexcept {
  if (s.size() < 3 || s.size() > 64) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(s.front()) || !alnum(s.back())) return false;
  for (char c : s) {
    if (!alnum(c) && c != '-') return false;
  }
  return true;
}

asio::awaitable<Organization> Service::create(const core::Principal& caller, std::string name,
                                              std::string slug, Actor actor) {
  require_user(caller);
  if (admin_only_creation_ && !caller.is_super_admin()) {
    throw ApiError(ErrorKind::kForbidden, "FORBIDDEN",
                   "Only platform administrators create organizations");
  }
  auto org = co_await repo_.create(std::move(name), std::move(slug), std::move(actor));
  if (!org) {
    throw ApiError(ErrorKind::kConflict, "SLUG_TAKEN", "An organization with this slug exists",
                   {{"SLUG_TAKEN", "slug", "Choose another slug"}});
  }
  rights_changed(caller.user_id);
  co_return std::move(*org);
}

asio::awaitable<core::Listing<Organization>> Service::list(const core::Principal& caller,
                                                           std::int64_t limit,
                                                           std::int64_t offset) {
  if (caller.api_key_org_id) {
    auto org = co_await repo_.find(*caller.api_key_org_id);
    core::Listing<Organization> out;
    if (org && offset == 0) out.items.push_back(std::move(*org));
    out.total = org ? 1 : 0;
    co_return out;
  }
  auto listing = co_await repo_.list(caller.user_id, caller.is_super_admin(), limit, offset);
  co_return listing;
}

asio::awaitable<Organization> Service::get(const core::Principal& caller, std::string org_id) {
  iam::authorize(caller, org_id, OrgAction::kRead, kOrg);
  auto org = co_await repo_.find(org_id);
  if (!org) throw core::not_found(kOrg);
  co_return std::move(*org);
}

asio::awaitable<Member> Service::add_member(const core::Principal& caller, std::string org_id,
                                            std::optional<std::string> user_id,
                                            std::optional<std::string> email, std::string role,
                                            Actor actor) {
  iam::authorize(caller, org_id, OrgAction::kManage, kOrg);
  auto [outcome, member] = co_await repo_.add_member(org_id, std::move(user_id), std::move(email),
                                                     std::move(role), std::move(actor));
  switch (outcome) {
    case AddOutcome::kUnknownUser:
      throw ApiError(ErrorKind::kNotFound, "USER_NOT_FOUND", "No user with that id or email");
    case AddOutcome::kAlreadyMember:
      throw ApiError(ErrorKind::kConflict, "ALREADY_MEMBER",
                     "The user is already a member; change the role with PATCH");
    case AddOutcome::kAdded:
      break;
  }
  rights_changed(member->user_id);
  co_return std::move(*member);
}

asio::awaitable<core::Listing<Member>> Service::members(const core::Principal& caller,
                                                        std::string org_id, std::int64_t limit,
                                                        std::int64_t offset) {
  iam::authorize(caller, org_id, OrgAction::kRead, kOrg);
  auto listing = co_await repo_.members(org_id, limit, offset);
  co_return listing;
}

asio::awaitable<Member> Service::change_role(const core::Principal& caller, std::string org_id,
                                             std::string user_id, std::string role, Actor actor) {
  iam::authorize(caller, org_id, OrgAction::kManage, kOrg);
  auto [outcome, member] =
      co_await repo_.change_role(org_id, std::move(user_id), std::move(role), std::move(actor));
  if (outcome == ChangeOutcome::kNotMember) throw core::not_found("Member");
  if (outcome == ChangeOutcome::kLastAdmin) {
    throw ApiError(ErrorKind::kConflict, "LAST_ADMIN",
                   "The organization must keep at least one ORG_ADMIN");
  }
  rights_changed(member->user_id);
  co_return std::move(*member);
}

asio::awaitable<void> Service::remove_member(const core::Principal& caller, std::string org_id,
                                             std::string user_id, Actor actor) {
  iam::authorize(caller, org_id, OrgAction::kManage, kOrg);
  const auto outcome = co_await repo_.remove_member(org_id, user_id, std::move(actor));
  if (outcome == ChangeOutcome::kNotMember) throw core::not_found("Member");
  if (outcome == ChangeOutcome::kLastAdmin) {
    throw ApiError(ErrorKind::kConflict, "LAST_ADMIN",
                   "The organization must keep at least one ORG_ADMIN");
  }
  rights_changed(user_id);
}

asio::awaitable<CreatedApiKey> Service::create_api_key(const core::Principal& caller,
                                                       std::string org_id, std::string name,
                                                       std::string role,
                                                       std::optional<std::string> expires_at,
                                                       Actor actor) {
  iam::authorize(caller, org_id, OrgAction::kManage, kOrg);
  // "tkd_<prefix>_<secret>": the prefix identifies the key in lists and logs; only the hash of
  // the whole key is stored.
  const std::string prefix = core::random_hex(6);
  std::string secret = "tkd_" + prefix + "_" + iam::random_token();
  auto key = co_await repo_.create_api_key(org_id, std::move(name), std::move(role), prefix,
                                           iam::token_hash(secret), std::move(expires_at),
                                           std::move(actor));
  co_return CreatedApiKey{std::move(key), std::move(secret)};
}

asio::awaitable<std::vector<ApiKey>> Service::api_keys(const core::Principal& caller,
                                                       std::string org_id) {
  iam::authorize(caller, org_id, OrgAction::kManage, kOrg);
  co_return co_await repo_.api_keys(org_id);
}

asio::awaitable<void> Service::revoke_api_key(const core::Principal& caller, std::string org_id,
                                              std::string key_id, Actor actor) {
  iam::authorize(caller, org_id, OrgAction::kManage, kOrg);
  // The awaited value is named: GCC 12 miscompiles co_await inside a condition.
  const bool revoked = co_await repo_.revoke_api_key(org_id, std::move(key_id), std::move(actor));
  if (!revoked) throw core::not_found("API key");
}

}  // namespace ticketd::organizations
