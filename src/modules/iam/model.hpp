#pragma once
#include <optional>
#include <string>
#include <vector>

#include "core/principal.hpp"

namespace ticketd::iam {

struct User {
  std::string id;
  std::string email;
  std::optional<std::string> display_name;
  std::string created_at;  // ISO-8601 UTC
};

struct Membership {
  std::string org_id;
  std::string org_name;
  std::string org_slug;
  std::string role;
};

// What /me and the auth responses show about the caller's rights.
struct Authorization {
  std::vector<std::string> roles;
  std::vector<Membership> memberships;
};

struct AuthResult {
  std::string access_token;
  std::string refresh_token;
  std::int64_t expires_in = 0;
  User user;
  Authorization authorization;
};

// Request metadata recorded with a session.
struct ClientInfo {
  std::string user_agent;
  std::string ip;
};

const char* org_role_name(core::OrgRole role) noexcept;
std::optional<core::OrgRole> parse_org_role(std::string_view name) noexcept;

}  // namespace ticketd::iam
