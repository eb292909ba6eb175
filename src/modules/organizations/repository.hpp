#pragma once
// The only SQL of the organizations module: organizations, memberships, API keys, and the audit
// rows of their changes (written by the same statement as the change).
#include <boost/asio/awaitable.hpp>
#include <optional>
#include <string>
#include <vector>

#include "infra/pg/pool.hpp"
#include "modules/organizations/model.hpp"

namespace ticketd::organizations {

enum class AddOutcome { kAdded, kUnknownUser, kAlreadyMember };
enum class ChangeOutcome { kDone, kNotMember, kLastAdmin };

class Repository {
 public:
  explicit Repository(infra::pg::Pool& pool) : pool_(pool) {}

  // Organization and its first ORG_ADMIN in one statement; nullopt when the slug is taken.
  boost::asio::awaitable<std::optional<Organization>> create(std::string name, std::string slug,
                                                             Actor actor);
  boost::asio::awaitable<std::optional<Organization>> find(std::string org_id);
  // Organizations `user_id` belongs to (all of them for `all`), with the total count.
  boost::asio::awaitable<core::Listing<Organization>> list(std::string user_id, bool all,
                                                           std::int64_t limit, std::int64_t offset);

  boost::asio::awaitable<std::pair<AddOutcome, std::optional<Member>>> add_member(
      std::string org_id, std::optional<std::string> user_id, std::optional<std::string> email,
      std::string role, Actor actor);
  boost::asio::awaitable<core::Listing<Member>> members(std::string org_id, std::int64_t limit,
                                                        std::int64_t offset);
  boost::asio::awaitable<std::pair<ChangeOutcome, std::optional<Member>>> change_role(
      std::string org_id, std::string user_id, std::string role, Actor actor);
  boost::asio::awaitable<ChangeOutcome> remove_member(std::string org_id, std::string user_id,
                                                      Actor actor);

  boost::asio::awaitable<ApiKey> create_api_key(std::string org_id, std::string name,
                                                std::string role, std::string prefix,
                                                std::string key_hash,
                                                std::optional<std::string> expires_at, Actor actor);
  boost::asio::awaitable<std::vector<ApiKey>> api_keys(std::string org_id);
  // False when the key does not exist in that organization or was already revoked.
  boost::asio::awaitable<bool> revoke_api_key(std::string org_id, std::string key_id, Actor actor);

 private:
  infra::pg::Pool& pool_;
};

}  // namespace ticketd::organizations
