#pragma once
// Who is calling, as established once per request by authentication: a user (access token) or
// an organization's API key. Every authorization decision reads this value; none queries again.
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace ticketd::core {

enum class OrgRole { kOrgAdmin, kOrgStaff, kSupport };

struct Principal {
  std::string user_id;  // empty for an API key
  std::string email;
  std::string session_id;                 // refresh-token family the access token belongs to
  std::vector<std::string> global_roles;  // USER, SUPER_ADMIN
  std::unordered_map<std::string, OrgRole> memberships;  // orgId → role
  std::optional<std::string> api_key_org_id;             // set when authenticated by X-Api-Key
  std::string api_key_id;
  OrgRole api_key_role = OrgRole::kOrgStaff;  // ORG_STAFF or SUPPORT

  bool is_super_admin() const {
    for (const auto& r : global_roles) {
      if (r == "SUPER_ADMIN") return true;
    }
    return false;
  }
};

}  // namespace ticketd::core
