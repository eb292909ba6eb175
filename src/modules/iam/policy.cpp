#include "modules/iam/policy.hpp"

#include <string>

#include "core/errors.hpp"

namespace ticketd::iam {

Decision decide(const core::Principal& caller, std::string_view org_id, OrgAction action) noexcept {
  if (caller.is_super_admin()) return Decision::kAllow;
  if (caller.api_key_org_id) {
    // A key is its organization's service account with staff rights, nothing more.
    if (*caller.api_key_org_id != org_id) return Decision::kNotFound;
    if (action == OrgAction::kManage) return Decision::kForbidden;
    if (action == OrgAction::kWrite && caller.api_key_role == core::OrgRole::kSupport) {
      return Decision::kForbidden;
    }
    return Decision::kAllow;
  }
  const auto it = caller.memberships.find(std::string(org_id));
  if (it == caller.memberships.end()) return Decision::kNotFound;
  switch (it->second) {
    case core::OrgRole::kOrgAdmin:
      return Decision::kAllow;
    case core::OrgRole::kOrgStaff:
      return action == OrgAction::kManage ? Decision::kForbidden : Decision::kAllow;
    case core::OrgRole::kSupport:
      return action == OrgAction::kRead ? Decision::kAllow : Decision::kForbidden;
  }
  return Decision::kNotFound;
}

Decision decide_owned(const core::Principal& caller, std::string_view owner_user_id,
                      std::string_view org_id, OrgAction action) noexcept {
  if (!caller.user_id.empty() && caller.user_id == owner_user_id) return Decision::kAllow;
  return decide(caller, org_id, action);
}

void authorize(const core::Principal& caller, std::string_view org_id, OrgAction action,
               std::string_view resource) {
  switch (decide(caller, org_id, action)) {
    case Decision::kAllow:
      return;
    case Decision::kForbidden:
      throw core::ApiError(core::ErrorKind::kForbidden, "FORBIDDEN",
                           "Your role does not allow this action");
    case Decision::kNotFound:
      throw core::not_found(resource);
  }
}

}  // namespace ticketd::iam
