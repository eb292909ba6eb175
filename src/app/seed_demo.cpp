// `ticketd seed-demo`: the demo a visitor sees after `make run`. Idempotent: every step first
// looks for what an earlier run created (by stable names) and only creates what is missing, so
// running it on every start is harmless. Goes through the module services, like the API would.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_future.hpp>
#include <iostream>
#include <map>

#include "app/app.hpp"
#include "app/wiring.hpp"
#include "core/cpu_pool.hpp"
#include "core/errors.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/time.hpp"
#include "infra/pg/pool.hpp"
#include "infra/redis/client.hpp"
#include "infra/redis/options.hpp"
#include "modules/events/repository.hpp"
#include "modules/events/seat_map.hpp"
#include "modules/events/service.hpp"
#include "modules/iam/repository.hpp"
#include "modules/iam/service.hpp"
#include "modules/organizations/repository.hpp"
#include "modules/organizations/service.hpp"
#include "modules/realtime/hub.hpp"
#include "modules/venues/repository.hpp"
#include "modules/venues/service.hpp"

namespace ticketd::app {

namespace asio = boost::asio;

namespace {

constexpr const char* kOrgSlug = "demo";
constexpr const char* kOrgName = "Demo Events";
constexpr const char* kVenueName = "Demo Arena";
constexpr const char* kEventTitle = "Demo Concert";
constexpr const char* kAdminEmail = "demo-admin@example.com";
constexpr const char* kAdminPassword = "demo-admin-pass";
constexpr const char* kCustomerEmail = "demo-customer@example.com";
constexpr const char* kCustomerPassword = "demo-customer-pass";

constexpr infra::pg::Statement kFindOrg{"seed_find_org",
                                        "SELECT id FROM organizations WHERE slug = $1"};
constexpr infra::pg::Statement kFindVenue{
    "seed_find_venue", "SELECT id FROM venues WHERE org_id = $1 AND name = $2 LIMIT 1"};
constexpr infra::pg::Statement kFindEvent{"seed_find_event", R"sql(
SELECT id FROM events WHERE org_id = $1 AND title = $2 AND status <> 'CANCELLED'
ORDER BY created_at LIMIT 1)sql"};
constexpr infra::pg::Statement kSectionIds{"seed_section_ids", R"sql(
SELECT code, id FROM venue_sections WHERE venue_id = $1)sql"};

struct Seeded {
  std::string org_id;
  std::string event_id;
  std::int64_t seats = 0;
};

// Sections of a few thousand seats: code, name, rows, seats per row.
struct SectionPlan {
  const char* code;
  const char* name;
  int rows;
  int seats;
};
constexpr SectionPlan kPlan[] = {
    {"STALLS", "Stalls", 30, 40}, {"CIRCLE", "Circle", 20, 40}, {"BALCONY", "Balcony", 20, 40}};

venues::Layout demo_layout() {
  venues::Layout layout;
  std::int64_t sort = 0;
  for (const auto& p : kPlan) {
    venues::SectionSpec s;
    s.name = p.name;
    s.code = p.code;
    s.sort_order = sort++;
    for (int r = 0; r < p.rows; ++r) {
      venues::RowSpec row;
      // Rows A..Z, then AA, AB, ...
      row.name = r < 26 ? std::string(1, static_cast<char>('A' + r))
                        : std::string("A") + static_cast<char>('A' + r - 26);
      row.sort_order = r;
      for (int n = 1; n <= p.seats; ++n) row.seats.push_back(venues::SeatSpec{n, {}, {}, {}});
      layout.seat_count += row.seats.size();
      s.rows.push_back(std::move(row));
    }
    layout.row_count += s.rows.size();
    layout.sections.push_back(std::move(s));
  }
  return layout;
}

asio::awaitable<std::string> ensure_user(iam::Service& iam, std::string email, std::string password,
                                         std::string name) {
  iam::ClientInfo client{"ticketd seed-demo", ""};
  try {
    iam::RegisterInput input{email, password, name};
    auto created = co_await iam.register_user(std::move(input), client);
    co_return created.user.id;
  } catch (const core::ApiError& e) {
    if (e.code() != "EMAIL_TAKEN") throw;
  }
  // Already there from an earlier run: the known password must still work.
  auto existing = co_await iam.login(std::move(email), std::move(password), std::move(client));
  co_return existing.user.id;
}

// The demo, step by step (~100 lines, a linear script: each step is one call of a service with
// literal data, so splitting it would only scatter the data).
asio::awaitable<Seeded> seed(infra::pg::Pool& pool, iam::Service& iam, organizations::Service& orgs,
                             venues::Service& venues, events::Service& events) {
  Seeded out;
  // Named strings: GCC 12 mishandles prvalue class arguments of coroutines (README).
  std::string admin_email = kAdminEmail, admin_password = kAdminPassword,
              admin_name = "Demo Organizer";
  std::string customer_email = kCustomerEmail, customer_password = kCustomerPassword,
              customer_name = "Demo Customer";
  const std::string admin_id = co_await ensure_user(
      iam, std::move(admin_email), std::move(admin_password), std::move(admin_name));
  co_await ensure_user(iam, std::move(customer_email), std::move(customer_password),
                       std::move(customer_name));

  // The organizer acts with platform rights here so the seed works with ORG_CREATION=admin too;
  // it still becomes the organization's first ORG_ADMIN as the creator.
  core::Principal organizer;
  organizer.user_id = admin_id;
  organizer.email = kAdminEmail;
  organizer.global_roles = {"USER", "SUPER_ADMIN"};
  core::Actor actor{admin_id, "", "seed-demo", ""};

  infra::pg::Params org_params(kOrgSlug);
  auto org = co_await pool.query(kFindOrg, org_params);
  if (org.empty()) {
    std::string name = kOrgName, slug = kOrgSlug;
    auto created = co_await orgs.create(organizer, std::move(name), std::move(slug), actor);
    out.org_id = created.id;
  } else {
    out.org_id = org.string(0, 0);
  }

  infra::pg::Params venue_params(out.org_id, kVenueName);
  auto venue = co_await pool.query(kFindVenue, venue_params);
  std::string venue_id;
  if (venue.empty()) {
    venues::NewVenue v{kVenueName, "1 Demo Street", "Springfield", "US", "America/New_York"};
    auto layout = demo_layout();
    auto created =
        co_await venues.create(organizer, out.org_id, std::move(v), std::move(layout), actor);
    venue_id = created.id;
  } else {
    venue_id = venue.string(0, 0);
  }

  infra::pg::Params event_params(out.org_id, kEventTitle);
  auto existing = co_await pool.query(kFindEvent, event_params);
  if (!existing.empty()) {
    out.event_id = existing.string(0, 0);
  } else {
    events::NewEvent e;
    e.org_id = out.org_id;
    e.venue_id = venue_id;
    e.title = kEventTitle;
    e.description = "A demo event with seated and standing tickets.";
    const auto now = std::chrono::system_clock::now();
    e.starts_at = core::iso8601(now + std::chrono::hours(24 * 30));
    e.ends_at = core::iso8601(now + std::chrono::hours(24 * 30 + 3));
    e.sales_start_at = core::iso8601(now - std::chrono::hours(1));
    auto created = co_await events.create(organizer, std::move(e), actor);
    out.event_id = created.id;

    infra::pg::Params section_params(venue_id);
    auto sections = co_await pool.query(kSectionIds, section_params);
    std::map<std::string, std::string> section_id;
    for (int i = 0; i < sections.rows(); ++i)
      section_id[sections.string(i, 0)] = sections.string(i, 1);

    events::NewTicketType premium;
    premium.name = "Premium";
    premium.code = "PREMIUM";
    premium.price_cents = 12'000;
    premium.fees_cents = 1'500;
    premium.seats.section_ids = {section_id["STALLS"]};
    co_await events.create_ticket_type(organizer, out.event_id, std::move(premium), actor);

    events::NewTicketType standard;
    standard.name = "Standard";
    standard.code = "STANDARD";
    standard.price_cents = 6'500;
    standard.fees_cents = 900;
    standard.seats.section_ids = {section_id["CIRCLE"], section_id["BALCONY"]};
    co_await events.create_ticket_type(organizer, out.event_id, std::move(standard), actor);

    events::NewTicketType standing;
    standing.name = "Standing";
    standing.code = "STANDING";
    standing.price_cents = 4'500;
    standing.fees_cents = 500;
    standing.total_capacity = 1'000;
    co_await events.create_ticket_type(organizer, out.event_id, std::move(standing), actor);

    events::EventPatch publish;
    publish.status = "PUBLISHED";
    std::vector<std::string> changed;
    co_await events.patch(organizer, out.event_id, std::move(publish), std::move(changed), actor);
  }
  for (const auto& p : kPlan) out.seats += static_cast<std::int64_t>(p.rows) * p.seats;
  co_return out;
}

}  // namespace

int seed_demo(const config::Config& config) {
  asio::io_context ioc(1);
  core::metrics::Registry metrics;
  infra::pg::Pool pool(ioc.get_executor(), pool_options(config), metrics);
  const auto redis_options = infra::redis::parse_url(config.redis_url.reveal());
  auto redis = infra::redis::Client::create(asio::make_strand(ioc), redis_options, metrics);
  redis->start();
  realtime::Hub hub(asio::make_strand(ioc), redis, redis_options, metrics);

  core::CpuPool cpu(1, 4, metrics, "passwords");
  iam::Repository iam_repo(pool);
  iam::Service iam_service(iam_repo, cpu, iam_settings(config));
  organizations::Repository org_repo(pool);
  organizations::Service org_service(org_repo, false);
  venues::Repository venue_repo(pool);
  venues::Service venue_service(venue_repo, static_cast<std::size_t>(config.venue_max_seats));
  events::Repository event_repo(pool);
  events::SeatMapCache cache(event_repo, hub, {}, metrics);
  events::Service event_service(event_repo, cache, hub, events::Settings{config.ga_capacity_slots});

  auto run = [&]() -> asio::awaitable<Seeded> {
    auto seeded = co_await seed(pool, iam_service, org_service, venue_service, event_service);
    co_await redis->async_stop();
    co_return seeded;
  };
  auto fut = asio::co_spawn(ioc, run(), asio::use_future);
  ioc.run();
  try {
    const auto seeded = fut.get();
    const std::string base = "http://localhost:" + std::to_string(config.port);
    std::cout << "\nticketd demo data (seed-demo is idempotent):\n"
              << "  organization  " << kOrgName << " (slug " << kOrgSlug << ")  " << seeded.org_id
              << "\n"
              << "  organizer     " << kAdminEmail << " / " << kAdminPassword << "  (ORG_ADMIN)\n"
              << "  customer      " << kCustomerEmail << " / " << kCustomerPassword << "\n"
              << "  event         " << kEventTitle << "  " << seeded.event_id << "  ("
              << seeded.seats << " seats, 2 seated ticket types, 1 standing)\n"
              << "  seat map      " << base << config.api_base() << "/events/" << seeded.event_id
              << "/seats\n"
              << "  live page     " << base << "/app/events/" << seeded.event_id << "\n\n";
    return 0;
  } catch (const std::exception& e) {
    core::log::error("seed-demo failed", {{"error", e.what()}});
    return 1;
  }
}

}  // namespace ticketd::app
