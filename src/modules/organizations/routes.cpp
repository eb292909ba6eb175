#include "modules/organizations/routes.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include "core/errors.hpp"
#include "core/ids.hpp"
#include "core/json.hpp"
#include "core/validation.hpp"
#include "http/envelope.hpp"
#include "http/pagination.hpp"
#include "http/params.hpp"

namespace ticketd::organizations {

namespace asio = boost::asio;
using core::json::opt;
using http::bhttp::verb;

namespace {

boost::json::object org_json(const Organization& o) {
  return {{"id", o.id}, {"name", o.name}, {"slug", o.slug}, {"createdAt", o.created_at}};
}

boost::json::object member_json(const Member& m) {
  return {{"orgId", m.org_id},
          {"userId", m.user_id},
          {"email", m.email},
          {"role", m.role},
          {"createdAt", m.created_at}};
}

boost::json::object key_json(const ApiKey& k) {
  return {{"id", k.id},
          {"orgId", k.org_id},
          {"name", k.name},
          {"role", k.role},
          {"prefix", k.prefix},
          {"createdAt", k.created_at},
          {"expiresAt", opt(k.expires_at)},
          {"revokedAt", opt(k.revoked_at)},
          {"lastUsedAt", opt(k.last_used_at)}};
}

bool is_member_role(std::string_view r) {
  return r == "ORG_ADMIN" || r == "ORG_STAFF" || r == "SUPPORT";
}

std::optional<std::string> read_role(core::ObjectReader& reader, bool required) {
  auto role = reader.string("role", required);
  if (role && !is_member_role(*role)) {
    reader.invalid("role", "INVALID_ROLE", "role must be ORG_ADMIN, ORG_STAFF or SUPPORT");
  }
  return role;
}

// Organizations: create, list, read.
void register_org_routes(http::Router& router, const std::string& base, Service& service) {
  router.add(verb::post, base + "/orgs",
             [&service](http::Request& req) -> asio::awaitable<http::Response> {
               const auto& caller = req.require_principal();
               core::ObjectReader reader(req.json());
               auto name = reader.string("name", true);
               auto slug = reader.string("slug", true);
               reader.length("name", name, 1, 200, "INVALID_NAME");
               if (slug && !is_valid_slug(*slug)) {
                 reader.invalid("slug", "INVALID_SLUG",
                                "slug must be 3-64 lowercase letters, digits or '-', not starting "
                                "or ending with '-'");
               }
               reader.finish();
               Actor actor =
                   req.actor();  // named: see iam/routes.cpp on GCC 12 and prvalue arguments
               auto org = co_await service.create(caller, *name, *slug, std::move(actor));
               co_return http::created(req, org_json(org), "Organization created");
             });

  router.add(
      verb::get, base + "/orgs", [&service](http::Request& req) -> asio::awaitable<http::Response> {
        const auto& caller = req.require_principal();
        auto page = http::read_page(req);
        auto listing = co_await service.list(caller, page.limit, (page.page - 1) * page.limit);
        co_return http::list(req, listing, page, org_json);
      });

  router.add(verb::get, base + "/orgs/:orgId",
             [&service](http::Request& req) -> asio::awaitable<http::Response> {
               const auto& caller = req.require_principal();
               const auto org_id = http::uuid_param(req, "orgId", "Organization");
               auto org = co_await service.get(caller, org_id);
               co_return http::ok(req, org_json(org));
             });
}

// Members and their roles.
void register_member_routes(http::Router& router, const std::string& base, Service& service) {
  router.add(verb::post, base + "/orgs/:orgId/members",
             [&service](http::Request& req) -> asio::awaitable<http::Response> {
               const auto& caller = req.require_principal();
               const auto org_id = http::uuid_param(req, "orgId", "Organization");
               core::ObjectReader reader(req.json());
               auto user_id = reader.string("userId", false);
               auto email = reader.string("email", false);
               auto role = read_role(reader, true);
               if (!user_id && !email)
                 reader.invalid("userId", "REQUIRED", "userId or email is required");
               if (user_id && !core::is_uuid(*user_id))
                 reader.invalid("userId", "INVALID_ID", "userId must be a UUID");
               reader.finish();
               if (email) {
                 for (auto& c : *email)
                   c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
               }
               Actor actor = req.actor();
               auto member = co_await service.add_member(caller, org_id, user_id, email, *role,
                                                         std::move(actor));
               co_return http::created(req, member_json(member), "Member added");
             });

  router.add(verb::get, base + "/orgs/:orgId/members",
             [&service](http::Request& req) -> asio::awaitable<http::Response> {
               const auto& caller = req.require_principal();
               const auto org_id = http::uuid_param(req, "orgId", "Organization");
               auto page = http::read_page(req);
               auto listing = co_await service.members(caller, org_id, page.limit,
                                                       (page.page - 1) * page.limit);
               co_return http::list(req, listing, page, member_json);
             });

  router.add(verb::patch, base + "/orgs/:orgId/members/:userId",
             [&service](http::Request& req) -> asio::awaitable<http::Response> {
               const auto& caller = req.require_principal();
               const auto org_id = http::uuid_param(req, "orgId", "Organization");
               const auto user_id = http::uuid_param(req, "userId", "Member");
               core::ObjectReader reader(req.json());
               auto role = read_role(reader, true);
               reader.finish();
               Actor actor = req.actor();
               auto member =
                   co_await service.change_role(caller, org_id, user_id, *role, std::move(actor));
               co_return http::ok(req, member_json(member), "Role changed");
             });

  router.add(verb::delete_, base + "/orgs/:orgId/members/:userId",
             [&service](http::Request& req) -> asio::awaitable<http::Response> {
               const auto& caller = req.require_principal();
               const auto org_id = http::uuid_param(req, "orgId", "Organization");
               const auto user_id = http::uuid_param(req, "userId", "Member");
               Actor actor = req.actor();
               co_await service.remove_member(caller, org_id, user_id, std::move(actor));
               co_return http::ok(
                   req,
                   boost::json::object{{"orgId", org_id}, {"userId", user_id}, {"removed", true}},
                   "Member removed");
             });
}

// API keys of an organization.
void register_api_key_routes(http::Router& router, const std::string& base, Service& service) {
  router.add(verb::post, base + "/orgs/:orgId/api-keys",
             [&service](http::Request& req) -> asio::awaitable<http::Response> {
               const auto& caller = req.require_principal();
               const auto org_id = http::uuid_param(req, "orgId", "Organization");
               core::ObjectReader reader(req.json());
               auto name = reader.string("name", true);
               auto role = reader.string("role", false);
               auto expires_at = reader.timestamp("expiresAt", false);
               reader.length("name", name, 1, 100, "INVALID_NAME");
               if (role && *role != "ORG_STAFF" && *role != "SUPPORT") {
                 reader.invalid("role", "INVALID_ROLE",
                                "an API key's role is ORG_STAFF or SUPPORT");
               }
               reader.finish();
               Actor actor = req.actor();
               std::string key_role = role.value_or("ORG_STAFF");
               auto created = co_await service.create_api_key(caller, org_id, *name, key_role,
                                                              expires_at, std::move(actor));
               auto data = key_json(created.key);
               data["key"] = created.secret;
               co_return http::created(req, data,
                                       "API key created; store the key now, it is not shown again");
             });

  router.add(verb::get, base + "/orgs/:orgId/api-keys",
             [&service](http::Request& req) -> asio::awaitable<http::Response> {
               const auto& caller = req.require_principal();
               const auto org_id = http::uuid_param(req, "orgId", "Organization");
               auto keys = co_await service.api_keys(caller, org_id);
               boost::json::array items;
               for (const auto& k : keys) items.push_back(key_json(k));
               co_return http::list(req, items,
                                    http::Page{1, static_cast<std::int64_t>(keys.size()),
                                               static_cast<std::int64_t>(keys.size())});
             });

  router.add(verb::delete_, base + "/orgs/:orgId/api-keys/:keyId",
             [&service](http::Request& req) -> asio::awaitable<http::Response> {
               const auto& caller = req.require_principal();
               const auto org_id = http::uuid_param(req, "orgId", "Organization");
               const auto key_id = http::uuid_param(req, "keyId", "API key");
               Actor actor = req.actor();
               co_await service.revoke_api_key(caller, org_id, key_id, std::move(actor));
               co_return http::ok(req, boost::json::object{{"id", key_id}, {"revoked", true}},
                                  "API key revoked");
             });
}

}  // namespace

void register_routes(http::Router& router, const std::string& base, Service& service) {
  register_org_routes(router, base, service);
  register_member_routes(router, base, service);
  register_api_key_routes(router, base, service);
}

}  // namespace ticketd::organizations
