#include "modules/iam/model.hpp"

namespace ticketd::iam {

const char* org_role_name(core::OrgRole role) noexcept {
  switch (role) {
    case core::OrgRole::kOrgAdmin:
      return "ORG_ADMIN";
    case core::OrgRole::kOrgStaff:
      return "ORG_STAFF";
    case core::OrgRole::kSupport:
      return "SUPPORT";
  }
  return "SUPPORT";
}

std::optional<core::OrgRole> parse_org_role(std::string_view name) noexcept {
  if (name == "ORG_ADMIN") return core::OrgRole::kOrgAdmin;
  if (name == "ORG_STAFF") return core::OrgRole::kOrgStaff;
  if (name == "SUPPORT") return core::OrgRole::kSupport;
  return std::nullopt;
}

}  // namespace ticketd::iam
