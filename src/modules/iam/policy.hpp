#pragma once
// The one authorization decision every module asks: given the caller and the
// organization that owns a resource, allow, forbid (visible but not permitted: 403) or hide
// (not a member: 404, so a resource's existence never leaks across tenants).
#include <string_view>

#include "core/principal.hpp"

namespace ticketd::iam {

enum class OrgAction {
  kRead,    // see the organization's resources (SUPPORT and up)
  kWrite,   // venues, events, inventory, check-in (ORG_STAFF and up, API keys)
  kManage,  // members, API keys, refunds (ORG_ADMIN)
};

enum class Decision { kAllow, kForbidden, kNotFound };

Decision decide(const core::Principal& caller, std::string_view org_id, OrgAction action) noexcept;

// The same for a resource a user owns (a reservation, payment, order, ticket): its owner may do
// anything the action names; anyone else is decided by the owning organization's rules.
Decision decide_owned(const core::Principal& caller, std::string_view owner_user_id,
                      std::string_view org_id, OrgAction action) noexcept;

// decide(), throwing ApiError 404 NOT_FOUND (with `resource` in the message) or 403 FORBIDDEN.
void authorize(const core::Principal& caller, std::string_view org_id, OrgAction action,
               std::string_view resource);

}  // namespace ticketd::iam
