#include "modules/web/routes.hpp"

#include <map>
#include <memory>
#include <stdexcept>
#include <string>

#include "core/crypto.hpp"
#include "core/errors.hpp"
#include "http/params.hpp"
#include "modules/web/assets.hpp"

namespace ticketd::web {

namespace {

constexpr std::string_view kAppPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
// Swagger UI sets element styles from script; scripts stay same-origin only.
constexpr std::string_view kDocsPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; "
    "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

struct Served {
  std::string content_type;
  std::string body;
  std::string etag;
  std::string_view policy;
};
using Files = std::map<std::string, std::shared_ptr<const Served>, std::less<>>;

std::shared_ptr<Files> load(const std::vector<Asset>& assets, std::string_view policy) {
  auto files = std::make_shared<Files>();
  for (const auto& a : assets) {
    auto p = std::make_shared<Served>();
    p->content_type = std::string(a.content_type);
    p->body = std::string(a.body);
    p->etag = core::weak_etag(p->body);
    p->policy = policy;
    files->emplace(std::string(a.name), std::move(p));
  }
  return files;
}

std::shared_ptr<const Served> file(const Files& files, std::string_view name) {
  auto it = files.find(name);
  if (it == files.end()) throw std::logic_error(std::string(name) + " is not embedded");
  return it->second;
}

http::Response serve(const Served& p) {
  http::Response r;
  r.content_type = p.content_type;
  r.body = p.body;
  r.etag = p.etag;
  // Revalidated on every load (cheap: a 304 by ETag), so a new build shows at once.
  r.header("Cache-Control", "no-cache");
  r.header("X-Content-Type-Options", "nosniff");
  r.header("Content-Security-Policy", std::string(p.policy));
  r.header("Referrer-Policy", "no-referrer");
  return r;
}

// GET `prefix`/:name for every file but `hidden` (served at its own address).
void add_assets(http::Router& router, const std::string& prefix,
                const std::shared_ptr<const Files>& files, const std::string& hidden) {
  router.add(http::bhttp::verb::get, prefix + "/:name",
             [files, hidden](http::Request& req) -> boost::asio::awaitable<http::Response> {
               const auto name = req.param("name").value_or("");
               auto it = files->find(name);
               if (it == files->end() || name == hidden) {
                 throw core::ApiError(core::ErrorKind::kNotFound, "NOT_FOUND", "No such file");
               }
               co_return serve(*it->second);
             });
}

void register_docs(http::Router& router, const std::string& docs_path) {
  using http::bhttp::verb;
  auto files = load(embedded_docs(), kDocsPolicy);
  const std::string base = "/" + docs_path;
  // The page names its assets and document under the configured path.
  auto index = std::make_shared<Served>(*file(*files, "index.html"));
  std::string html;
  std::string_view text = index->body;
  constexpr std::string_view kPlaceholder = "DOCS_BASE";
  for (auto at = text.find(kPlaceholder); at != std::string_view::npos;
       at = text.find(kPlaceholder)) {
    html.append(text.substr(0, at)).append(base);
    text.remove_prefix(at + kPlaceholder.size());
  }
  html.append(text);
  index->body = std::move(html);
  index->etag = core::weak_etag(index->body);
  auto page = [index = std::shared_ptr<const Served>(index)](
                  http::Request&) -> boost::asio::awaitable<http::Response> {
    co_return serve(*index);
  };
  router.add(verb::get, base, page);
  auto document = file(*files, "openapi.json");
  router.add(verb::get, base + ".json",
             [document](http::Request&) -> boost::asio::awaitable<http::Response> {
               co_return serve(*document);
             });
  auto assets = std::make_shared<Files>(*files);
  assets->erase("openapi.json");
  add_assets(router, base + "/assets", assets, "index.html");
}

}  // namespace

void register_routes(http::Router& router, const std::string& docs_path) {
  using http::bhttp::verb;
  auto assets = load(embedded_assets(), kAppPolicy);
  auto index = file(*assets, "index.html");

  auto index_handler = [index](http::Request&) -> boost::asio::awaitable<http::Response> {
    co_return serve(*index);
  };
  router.add(verb::get, "/app", index_handler);
  // The page reads the id from its own address; an unknown event shows "not found" itself, and
  // what is not an event id at all is 404 like on every other route.
  router.add(verb::get, "/app/events/:eventId",
             [index](http::Request& req) -> boost::asio::awaitable<http::Response> {
               http::uuid_param(req, "eventId", "Event");
               co_return serve(*index);
             });
  add_assets(router, "/app/assets", assets, "index.html");
  register_docs(router, docs_path);
}

}  // namespace ticketd::web
