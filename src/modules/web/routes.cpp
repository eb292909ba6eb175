#include "modules/web/routes.hpp"

#include <map>
#include <memory>
#include <stdexcept>
#include <string>

#include "core/crypto.hpp"
#include "core/errors.hpp"
#include "modules/web/assets.hpp"

namespace ticketd::web {

namespace {

struct Served {
  std::string content_type;
  std::string body;
  std::string etag;
};

std::shared_ptr<const Served> page(const Asset& a) {
  auto p = std::make_shared<Served>();
  p->content_type = std::string(a.content_type);
  p->body = std::string(a.body);
  p->etag = core::weak_etag(p->body);
  return p;
}

http::Response serve(const Served& p) {
  http::Response r;
  r.content_type = p.content_type;
  r.body = p.body;
  r.etag = p.etag;
  // Revalidated on every load (cheap: a 304 by ETag), so a new build shows at once.
  r.header("Cache-Control", "no-cache");
  r.header("X-Content-Type-Options", "nosniff");
  r.header("Content-Security-Policy",
           "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
           "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'");
  r.header("Referrer-Policy", "no-referrer");
  return r;
}

}  // namespace

void register_routes(http::Router& router) {
  using http::bhttp::verb;
  auto assets =
      std::make_shared<std::map<std::string, std::shared_ptr<const Served>, std::less<>>>();
  for (const auto& a : embedded_assets()) assets->emplace(std::string(a.name), page(a));
  auto index_it = assets->find("index.html");
  if (index_it == assets->end()) throw std::logic_error("web/index.html is not embedded");
  auto index = index_it->second;

  auto index_handler = [index](http::Request&) -> boost::asio::awaitable<http::Response> {
    co_return serve(*index);
  };
  router.add(verb::get, "/app", index_handler);
  // The page reads the id from its own address; an unknown one shows "not found" itself.
  router.add(verb::get, "/app/events/:eventId", index_handler);
  router.add(verb::get, "/app/assets/:name",
             [assets](http::Request& req) -> boost::asio::awaitable<http::Response> {
               const auto name = req.param("name").value_or("");
               auto it = assets->find(name);
               if (it == assets->end() || name == "index.html") {
                 throw core::ApiError(core::ErrorKind::kNotFound, "NOT_FOUND", "No such file");
               }
               co_return serve(*it->second);
             });
}

}  // namespace ticketd::web
