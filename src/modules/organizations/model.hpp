#pragma once
#include <optional>
#include <string>

#include "core/actor.hpp"

namespace ticketd::organizations {

struct Organization {
  std::string id;
  std::string name;
  std::string slug;
  std::string created_at;
};

struct Member {
  std::string org_id;
  std::string user_id;
  std::string email;
  std::string role;
  std::string created_at;
};

struct ApiKey {
  std::string id;
  std::string org_id;
  std::string name;
  std::string role;
  std::string prefix;
  std::string created_at;
  std::optional<std::string> expires_at;
  std::optional<std::string> revoked_at;
  std::optional<std::string> last_used_at;
};

using Actor = core::Actor;

}  // namespace ticketd::organizations
