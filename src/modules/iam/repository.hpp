#pragma once
// The only SQL of the iam module.
#include <boost/asio/awaitable.hpp>
#include <optional>
#include <string>

#include "infra/pg/pool.hpp"
#include "modules/iam/model.hpp"

namespace ticketd::iam {

struct Credentials {
  User user;
  std::string password_hash;
  bool active = false;
};

struct NewSession {
  std::string user_id;
  std::string family_id;
  std::string token_hash;
  std::int64_t ttl_seconds;
  ClientInfo client;
};

struct LoadedPrincipal {
  core::Principal principal;
  User user;
  Authorization authorization;
  bool from_cache = false;  // reused from an earlier request rather than read just now
};

class Repository {
 public:
  explicit Repository(infra::pg::Pool& pool) : pool_(pool) {}

  // Creates the user with role USER and its first session, in one statement. nullopt when the
  // email is taken.
  boost::asio::awaitable<std::optional<User>> create_user(std::string email,
                                                          std::string password_hash,
                                                          std::optional<std::string> display_name,
                                                          NewSession session);
  boost::asio::awaitable<std::optional<Credentials>> find_credentials(std::string email);
  boost::asio::awaitable<void> create_session(NewSession session);
  // Rotates the ACTIVE, unexpired session of `old_hash` into a new one; returns (user, family)
  // or nullopt when the token is unknown, expired, revoked or already rotated.
  boost::asio::awaitable<std::optional<std::pair<std::string, std::string>>> rotate_session(
      std::string old_hash, std::string new_hash, std::int64_t ttl_seconds, ClientInfo client);
  // A rotated (or revoked) token presented again: revoke its whole family. True when it did.
  boost::asio::awaitable<bool> revoke_family_of_reused(std::string token_hash);
  boost::asio::awaitable<void> revoke_family(std::string family_id, std::string reason);
  // The family a live refresh token belongs to, if any.
  boost::asio::awaitable<std::optional<std::string>> family_of(std::string token_hash);
  // User, roles and memberships for an ACTIVE user whose session family is not revoked.
  boost::asio::awaitable<std::optional<LoadedPrincipal>> load_principal(std::string user_id,
                                                                        std::string family_id);
  // The organization, id and role of a live (not revoked, not expired) API key.
  boost::asio::awaitable<std::optional<core::Principal>> load_api_key(std::string key_hash);
  // Grants SUPER_ADMIN by email with an audit row; false when no such user.
  boost::asio::awaitable<bool> grant_super_admin(std::string email, std::string actor);

 private:
  infra::pg::Pool& pool_;
};

}  // namespace ticketd::iam
