#include "modules/iam/policy.hpp"

#include <gtest/gtest.h>

#include "core/errors.hpp"

namespace ticketd::iam {
namespace {

constexpr std::string_view kOrgA = "aaaaaaaa-0000-4000-8000-000000000001";
constexpr std::string_view kOrgB = "bbbbbbbb-0000-4000-8000-000000000002";

core::Principal member(core::OrgRole role) {
  core::Principal p;
  p.user_id = "u";
  p.global_roles = {"USER"};
  p.memberships.emplace(std::string(kOrgA), role);
  return p;
}

struct Row {
  const char* who;
  core::Principal caller;
  Decision read, write, manage;
};

TEST(Policy, DecisionTable) {
  core::Principal stranger;
  stranger.global_roles = {"USER"};
  core::Principal admin;
  admin.global_roles = {"USER", "SUPER_ADMIN"};
  core::Principal key;
  key.api_key_org_id = std::string(kOrgA);
  const Decision A = Decision::kAllow, F = Decision::kForbidden, N = Decision::kNotFound;
  const Row rows[] = {
      {"ORG_ADMIN", member(core::OrgRole::kOrgAdmin), A, A, A},
      {"ORG_STAFF", member(core::OrgRole::kOrgStaff), A, A, F},
      {"SUPPORT", member(core::OrgRole::kSupport), A, F, F},
      {"non-member", stranger, N, N, N},
      {"SUPER_ADMIN", admin, A, A, A},
      {"API key of the org", key, A, A, F},
  };
  for (const auto& r : rows) {
    EXPECT_EQ(decide(r.caller, kOrgA, OrgAction::kRead), r.read) << r.who;
    EXPECT_EQ(decide(r.caller, kOrgA, OrgAction::kWrite), r.write) << r.who;
    EXPECT_EQ(decide(r.caller, kOrgA, OrgAction::kManage), r.manage) << r.who;
  }
}

TEST(Policy, MembershipInOneOrgGrantsNothingInAnother) {
  for (auto role : {core::OrgRole::kOrgAdmin, core::OrgRole::kOrgStaff, core::OrgRole::kSupport}) {
    const auto p = member(role);
    for (auto action : {OrgAction::kRead, OrgAction::kWrite, OrgAction::kManage}) {
      EXPECT_EQ(decide(p, kOrgB, action), Decision::kNotFound);
    }
  }
  core::Principal key;
  key.api_key_org_id = std::string(kOrgA);
  EXPECT_EQ(decide(key, kOrgB, OrgAction::kRead), Decision::kNotFound);
}

TEST(Policy, AuthorizeThrowsTheRightKinds) {
  const auto support = member(core::OrgRole::kSupport);
  EXPECT_NO_THROW(authorize(support, kOrgA, OrgAction::kRead, "Venue"));
  try {
    authorize(support, kOrgA, OrgAction::kWrite, "Venue");
    ADD_FAILURE();
  } catch (const core::ApiError& e) {
    EXPECT_EQ(e.kind(), core::ErrorKind::kForbidden);
  }
  try {
    authorize(support, kOrgB, OrgAction::kRead, "Venue");
    ADD_FAILURE();
  } catch (const core::ApiError& e) {
    EXPECT_EQ(e.kind(), core::ErrorKind::kNotFound);
    EXPECT_EQ(e.message(), "Venue not found");
  }
}

}  // namespace
}  // namespace ticketd::iam
