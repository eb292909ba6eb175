#include "modules/iam/routes.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include "core/errors.hpp"
#include "core/validation.hpp"
#include "http/envelope.hpp"

namespace ticketd::iam {

namespace asio = boost::asio;
using http::bhttp::verb;

namespace {

boost::json::object user_json(const User& u) {
  boost::json::object o{{"id", u.id}, {"email", u.email}, {"createdAt", u.created_at}};
  o["displayName"] =
      u.display_name ? boost::json::value(*u.display_name) : boost::json::value(nullptr);
  return o;
}

boost::json::object authorization_json(const Authorization& a) {
  boost::json::array roles;
  for (const auto& r : a.roles) roles.emplace_back(r);
  boost::json::array memberships;
  for (const auto& m : a.memberships) {
    memberships.push_back(boost::json::object{
        {"orgId", m.org_id}, {"orgName", m.org_name}, {"orgSlug", m.org_slug}, {"role", m.role}});
  }
  return {{"roles", std::move(roles)}, {"memberships", std::move(memberships)}};
}

boost::json::object auth_json(const AuthResult& r) {
  return {{"accessToken", r.access_token}, {"refreshToken", r.refresh_token},
          {"tokenType", "Bearer"},         {"expiresIn", r.expires_in},
          {"user", user_json(r.user)},     {"authorization", authorization_json(r.authorization)}};
}

ClientInfo client_of(const http::Request& req) {
  return ClientInfo{std::string(req.header(http::bhttp::field::user_agent).substr(0, 256)),
                    req.remote_ip()};
}

std::size_t utf8_length(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// Email and password of a register/login body; invalid values are collected on `reader`.
std::pair<std::string, std::string> read_credentials(core::ObjectReader& reader, bool check_rules) {
  auto email = reader.string("email", true);
  auto password = reader.string("password", true);
  std::string normalized;
  if (email) {
    if (auto n = normalize_email(*email)) {
      normalized = *n;
    } else {
      reader.invalid("email", "INVALID_EMAIL",
                     "email must be a valid address of at most 254 characters");
    }
  }
  if (password && check_rules) {
    const auto len = utf8_length(*password);
    if (len < 8 || len > 72) {
      reader.invalid("password", "INVALID_PASSWORD", "password must be 8 to 72 characters");
    }
  }
  return {normalized, password.value_or("")};
}

}  // namespace

void register_routes(http::Router& router, const std::string& base, Service& service) {
  router.add(
      verb::post, base + "/auth/register",
      [&service](http::Request& req) -> asio::awaitable<http::Response> {
        core::ObjectReader reader(req.json());
        auto [email, password] = read_credentials(reader, true);
        auto display_name = reader.string("displayName", false);
        if (display_name) {
          const auto len = utf8_length(*display_name);
          if (len < 1 || len > 200)
            reader.invalid("displayName", "INVALID_DISPLAY_NAME",
                           "displayName must be 1 to 200 characters");
        }
        reader.finish();
        // Coroutine arguments are named, never prvalues: GCC 12 bitwise-copies prvalue class
        // arguments into the coroutine frame (an SSO string then frees its own frame slot).
        RegisterInput input{email, password, display_name};
        ClientInfo client = client_of(req);
        auto result = co_await service.register_user(std::move(input), std::move(client));
        co_return http::created(req, auth_json(result), "Registered");
      },
      http::RouteOptions{.traffic = http::TrafficClass::kAuth});

  router.add(
      verb::post, base + "/auth/login",
      [&service](http::Request& req) -> asio::awaitable<http::Response> {
        core::ObjectReader reader(req.json());
        auto [email, password] = read_credentials(reader, false);
        reader.finish();
        ClientInfo client = client_of(req);
        auto result = co_await service.login(email, password, std::move(client));
        co_return http::ok(req, auth_json(result), "Logged in");
      },
      http::RouteOptions{.traffic = http::TrafficClass::kAuth});

  router.add(
      verb::post, base + "/auth/refresh",
      [&service](http::Request& req) -> asio::awaitable<http::Response> {
        core::ObjectReader reader(req.json());
        auto token = reader.string("refreshToken", true);
        reader.finish();
        ClientInfo client = client_of(req);
        auto result = co_await service.refresh(*token, std::move(client));
        co_return http::ok(req, auth_json(result), "Tokens refreshed");
      },
      http::RouteOptions{.traffic = http::TrafficClass::kAuth});

  router.add(verb::post, base + "/auth/logout",
             [&service](http::Request& req) -> asio::awaitable<http::Response> {
               std::optional<std::string> token;
               if (const auto* body = req.json_if_present()) {
                 core::ObjectReader reader(*body);
                 token = reader.string("refreshToken", false);
                 reader.finish();
               }
               co_await service.logout(req.principal(), token);
               co_return http::no_content(req);
             });

  router.add(verb::get, base + "/me",
             [&service](http::Request& req) -> asio::awaitable<http::Response> {
               const auto& caller = req.require_principal();
               using Loaded = std::shared_ptr<const LoadedPrincipal>;
               Loaded loaded;
               // Reuses what authentication read for this request; rights reused from the
               // cache are read again, so /me always shows the current state.
               const auto* cached = std::any_cast<Loaded>(&req.auth_details());
               if (cached != nullptr && !(*cached)->from_cache) {
                 loaded = *cached;
               } else {
                 auto fresh = co_await service.describe(caller);
                 loaded = std::make_shared<const LoadedPrincipal>(std::move(fresh));
               }
               boost::json::object data = authorization_json(loaded->authorization);
               data["user"] = user_json(loaded->user);
               co_return http::ok(req, data);
             });
}

http::Middleware authentication_middleware(Service& service) {
  return [&service](http::Request& req) -> asio::awaitable<std::optional<http::Response>> {
    const std::string_view header = req.header(http::bhttp::field::authorization);
    if (header.empty()) {
      const std::string_view api_key = req.header("X-Api-Key");
      if (api_key.empty()) co_return std::nullopt;
      auto principal = co_await service.authenticate_api_key(api_key);
      req.set_principal(std::move(principal));
      co_return std::nullopt;
    }
    const auto token = bearer_token(header);
    if (!token) {
      throw core::ApiError(
          core::ErrorKind::kUnauthenticated, "INVALID_TOKEN",
          "Authorization header is not a Bearer token",
          {{"INVALID_TOKEN", "Authorization", "Use: Authorization: Bearer <token>"}});
    }
    if (req.traffic() == http::TrafficClass::kQueue) {
      // Waiting-room joins and polls come by the thousand per second during an on-sale and need
      // only who is asking: no database round trip (Service::identify).
      req.set_principal(service.identify(*token));
      co_return std::nullopt;
    }
    auto loaded = co_await service.authenticate(*token);
    req.set_principal(loaded.principal);
    // /me shows exactly what was just loaded: no second query.
    req.set_auth_details(std::make_shared<const LoadedPrincipal>(std::move(loaded)));
    co_return std::nullopt;
  };
}

}  // namespace ticketd::iam
