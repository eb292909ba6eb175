#include "modules/venues/routes.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include "core/errors.hpp"
#include "core/json.hpp"
#include "core/validation.hpp"
#include "http/envelope.hpp"
#include "http/pagination.hpp"
#include "http/params.hpp"

namespace ticketd::venues {

namespace asio = boost::asio;
using core::json::opt;
using http::bhttp::verb;

namespace {

boost::json::object venue_json(const Venue& v) {
  return {{"id", v.id},
          {"orgId", v.org_id},
          {"name", v.name},
          {"address", opt(v.address)},
          {"city", opt(v.city)},
          {"country", opt(v.country)},
          {"timezone", opt(v.timezone)},
          {"sectionCount", v.section_count},
          {"rowCount", v.row_count},
          {"seatCount", v.seat_count},
          {"createdAt", v.created_at}};
}

boost::json::object layout_json(const VenueLayout& l) {
  auto out = venue_json(l.venue);
  boost::json::array sections;
  for (const auto& s : l.sections) {
    boost::json::array rows;
    for (const auto& r : s.rows) {
      rows.push_back({{"id", r.id},
                      {"name", r.name},
                      {"sortOrder", r.sort_order},
                      {"seatCount", r.seat_count}});
    }
    sections.push_back({{"id", s.id},
                        {"name", s.name},
                        {"code", s.code},
                        {"sortOrder", s.sort_order},
                        {"rows", std::move(rows)}});
  }
  out["sections"] = std::move(sections);
  return out;
}

}  // namespace

void register_routes(http::Router& router, const std::string& base, Service& service,
                     const RouteSettings& settings) {
  const auto limits = settings.limits;
  // Layout bodies may be 16 MiB: the caller is checked on the request head, before a byte of
  // the body is read (and checked again by the service, which owns the rule).
  http::RouteOptions create_options{settings.layout_body_limit};
  create_options.authorize = [&service](http::Request& req) -> asio::awaitable<void> {
    service.authorize_create(req.require_principal(),
                             http::uuid_param(req, "orgId", "Organization"));
    co_return;
  };
  http::RouteOptions sections_options{settings.layout_body_limit};
  sections_options.authorize = [&service](http::Request& req) -> asio::awaitable<void> {
    const auto& caller = req.require_principal();
    auto venue_id = http::uuid_param(req, "venueId", "Venue");
    co_await service.authorize_add_sections(caller, std::move(venue_id));
  };

  router.add(
      verb::post, base + "/orgs/:orgId/venues",
      [&service, limits](http::Request& req) -> asio::awaitable<http::Response> {
        const auto& caller = req.require_principal();
        const auto org_id = http::uuid_param(req, "orgId", "Organization");
        core::ObjectReader reader(req.json());
        NewVenue venue;
        auto name = reader.string("name", true);
        venue.address = reader.string("address", false);
        venue.city = reader.string("city", false);
        venue.country = reader.string("country", false);
        venue.timezone = reader.string("timezone", false);
        reader.length("name", name, 1, 200);
        reader.length("address", venue.address, 0, 500);
        reader.length("city", venue.city, 0, 200);
        reader.length("country", venue.country, 0, 100);
        reader.length("timezone", venue.timezone, 1, 64);
        auto layout = read_layout(reader, "sections", limits);
        reader.finish();
        venue.name = std::move(*name);
        core::Actor actor = req.actor();
        auto created = co_await service.create(caller, org_id, std::move(venue), std::move(layout),
                                               std::move(actor));
        co_return http::created(req, venue_json(created), "Venue created");
      },
      std::move(create_options));

  router.add(verb::get, base + "/orgs/:orgId/venues",
             [&service](http::Request& req) -> asio::awaitable<http::Response> {
               const auto& caller = req.require_principal();
               const auto org_id = http::uuid_param(req, "orgId", "Organization");
               auto page = http::read_page(req, 100);
               auto listing =
                   co_await service.list(caller, org_id, page.limit, (page.page - 1) * page.limit);
               co_return http::list(req, listing, page, venue_json);
             });

  router.add(verb::get, base + "/venues/:venueId",
             [&service](http::Request& req) -> asio::awaitable<http::Response> {
               const auto& caller = req.require_principal();
               const auto venue_id = http::uuid_param(req, "venueId", "Venue");
               auto layout = co_await service.get(caller, venue_id);
               co_return http::ok(req, layout_json(layout));
             });

  router.add(
      verb::post, base + "/venues/:venueId/sections",
      [&service, limits](http::Request& req) -> asio::awaitable<http::Response> {
        const auto& caller = req.require_principal();
        const auto venue_id = http::uuid_param(req, "venueId", "Venue");
        core::ObjectReader reader(req.json());
        auto layout = read_layout(reader, "sections", limits);
        reader.finish();
        core::Actor actor = req.actor();
        auto venue =
            co_await service.add_sections(caller, venue_id, std::move(layout), std::move(actor));
        co_return http::created(req, venue_json(venue), "Sections added");
      },
      std::move(sections_options));
}

}  // namespace ticketd::venues
