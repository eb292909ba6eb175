#pragma once
// Organization rules: creation (creator becomes ORG_ADMIN), membership management with the
// last-admin guard, API keys. Every call authorizes through iam::authorize first.
#include <boost/asio/awaitable.hpp>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/principal.hpp"
#include "modules/organizations/model.hpp"
#include "modules/organizations/repository.hpp"

namespace ticketd::organizations {

struct CreatedApiKey {
  ApiKey key;
  std::string secret;  // the full key, shown once
};

class Service {
 public:
  // `admin_only_creation`: ORG_CREATION=admin (only SUPER_ADMIN creates organizations).
  Service(Repository& repo, bool admin_only_creation)
      : repo_(repo), admin_only_creation_(admin_only_creation) {}

  // Called with a user's id after their memberships changed (creating an organization, being
  // added, re-roled or removed), so cached rights are reloaded (iam::Service::forget_user).
  void on_rights_changed(std::function<void(const std::string& user_id)> fn) {
    rights_changed_ = std::move(fn);
  }

  boost::asio::awaitable<Organization> create(const core::Principal& caller, std::string name,
                                              std::string slug, Actor actor);
  boost::asio::awaitable<core::Listing<Organization>> list(const core::Principal& caller,
                                                           std::int64_t limit, std::int64_t offset);
  boost::asio::awaitable<Organization> get(const core::Principal& caller, std::string org_id);

  boost::asio::awaitable<Member> add_member(const core::Principal& caller, std::string org_id,
                                            std::optional<std::string> user_id,
                                            std::optional<std::string> email, std::string role,
                                            Actor actor);
  boost::asio::awaitable<core::Listing<Member>> members(const core::Principal& caller,
                                                        std::string org_id, std::int64_t limit,
                                                        std::int64_t offset);
  boost::asio::awaitable<Member> change_role(const core::Principal& caller, std::string org_id,
                                             std::string user_id, std::string role, Actor actor);
  boost::asio::awaitable<void> remove_member(const core::Principal& caller, std::string org_id,
                                             std::string user_id, Actor actor);

  boost::asio::awaitable<CreatedApiKey> create_api_key(const core::Principal& caller,
                                                       std::string org_id, std::string name,
                                                       std::string role,
                                                       std::optional<std::string> expires_at,
                                                       Actor actor);
  boost::asio::awaitable<std::vector<ApiKey>> api_keys(const core::Principal& caller,
                                                       std::string org_id);
  boost::asio::awaitable<void> revoke_api_key(const core::Principal& caller, std::string org_id,
                                              std::string key_id, Actor actor);

 private:
  void rights_changed(const std::string& user_id) const {
    if (rights_changed_) rights_changed_(user_id);
  }

  Repository& repo_;
  bool admin_only_creation_;
  std::function<void(const std::string& user_id)> rights_changed_;
};

// The slug rule: 3–64 of [a-z0-9-], starting and ending with a letter or digit.
bool is_valid_slug(std::string_view slug) noexcept;

}  // namespace ticketd::organizations
