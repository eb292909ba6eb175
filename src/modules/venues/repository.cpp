#include "modules/venues/repository.hpp"

#include "core/ids.hpp"
#include "infra/pg/array.hpp"
#include "infra/pg/errors.hpp"
#include "infra/pg/sql.hpp"

namespace ticketd::venues {

namespace asio = boost::asio;
using infra::pg::ArrayLiteral;
using infra::pg::Params;
using infra::pg::Statement;

namespace {

#define VENUE_COLUMNS                                                                   \
  "v.id, v.org_id, v.name, v.address, v.city, v.country, v.timezone, "                  \
  "(SELECT count(*) FROM venue_sections s WHERE s.venue_id = v.id), "                   \
  "(SELECT count(*) FROM venue_rows r WHERE r.venue_id = v.id), "                       \
  "(SELECT count(*) FROM venue_seats x WHERE x.venue_id = v.id), " TICKETD_SQL_ISO8601( \
      "v.created_at")

constexpr Statement kInsertVenue{"venue_insert", R"sql(
INSERT INTO venues (id, org_id, name, address, city, country, timezone, created_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, NULLIF($8, '')::uuid))sql"};

constexpr Statement kInsertSections{"venue_insert_sections", R"sql(
INSERT INTO venue_sections (id, venue_id, org_id, name, code, sort_order)
SELECT s.id, $1, $2, s.name, s.code,
       coalesce(s.sort_order,
                (SELECT coalesce(max(sort_order), -1) FROM venue_sections WHERE venue_id = $1) + s.idx)
FROM unnest($3::uuid[], $4::text[], $5::text[], $6::int[])
       WITH ORDINALITY AS s(id, name, code, sort_order, idx))sql"};

constexpr Statement kInsertRows{"venue_insert_rows", R"sql(
INSERT INTO venue_rows (id, section_id, venue_id, org_id, name, sort_order)
SELECT r.id, r.section_id, $1, $2, r.name, r.sort_order
FROM unnest($3::uuid[], $4::uuid[], $5::text[], $6::int[]) AS r(id, section_id, name, sort_order))sql"};

// Seats name their row by position in the rows arrays ($3, $4): a 50,000-seat layout sends
// one small integer per seat instead of two UUIDs.
constexpr Statement kInsertSeats{"venue_insert_seats", R"sql(
INSERT INTO venue_seats (row_id, section_id, venue_id, org_id, seat_number, label, seat_code, x, y)
SELECT r.id, r.section_id, $1, $2, s.num, s.label, s.code, s.x, s.y
FROM unnest($5::int[], $6::int[], $7::text[], $8::text[], $9::float8[], $10::float8[])
       AS s(row_idx, num, label, code, x, y)
JOIN unnest($3::uuid[], $4::uuid[]) WITH ORDINALITY AS r(id, section_id, idx) ON r.idx = s.row_idx)sql"};

constexpr Statement kAudit{"venue_audit", R"sql(
INSERT INTO audit_logs (org_id, actor_user_id, actor_api_key_id, action, resource_type, resource_id,
                        details, request_id, ip)
VALUES ($1, NULLIF($2, '')::uuid, NULLIF($3, '')::uuid, $4, 'venue', $5, $6::jsonb, $7,
        NULLIF($8, '')::inet))sql"};

constexpr Statement kFind{"venue_find", "SELECT " VENUE_COLUMNS " FROM venues v WHERE v.id = $1"};

constexpr Statement kLockForUpdate{"venue_lock", R"sql(
SELECT org_id FROM venues WHERE id = $1 FOR UPDATE)sql"};

constexpr Statement kTakenCodes{"venue_taken_codes", R"sql(
SELECT code FROM venue_sections WHERE venue_id = $1 AND code = ANY($2::text[]))sql"};

constexpr Statement kList{"venue_list", "SELECT " VENUE_COLUMNS R"sql(, count(*) OVER ()
FROM venues v WHERE v.org_id = $1
ORDER BY v.created_at DESC, v.id
LIMIT $2 OFFSET $3)sql"};

constexpr Statement kCount{"venue_count", "SELECT count(*) FROM venues WHERE org_id = $1"};

constexpr Statement kSections{"venue_sections", R"sql(
SELECT s.id, s.name, s.code, s.sort_order, r.id, r.name, r.sort_order,
       (SELECT count(*) FROM venue_seats x WHERE x.row_id = r.id)
FROM venue_sections s JOIN venue_rows r ON r.section_id = s.id
WHERE s.venue_id = $1
ORDER BY s.sort_order, s.code, r.sort_order, r.name)sql"};

Venue venue_from(const infra::pg::Result& r, int row) {
  Venue v;
  v.id = r.string(row, 0);
  v.org_id = r.string(row, 1);
  v.name = r.string(row, 2);
  v.address = r.opt_string(row, 3);
  v.city = r.opt_string(row, 4);
  v.country = r.opt_string(row, 5);
  v.timezone = r.opt_string(row, 6);
  v.section_count = r.int64(row, 7);
  v.row_count = r.int64(row, 8);
  v.seat_count = r.int64(row, 9);
  v.created_at = r.string(row, 10);
  return v;
}

// Three bulk statements, whatever the size of the layout.
asio::awaitable<void> insert_layout(infra::pg::Tx& tx, const std::string& venue_id,
                                    const std::string& org_id, const Layout& layout) {
  ArrayLiteral section_ids, section_names, section_codes, section_sorts;
  ArrayLiteral row_ids, row_sections, row_names, row_sorts;
  ArrayLiteral seat_rows, seat_numbers, seat_labels, seat_codes, seat_xs, seat_ys;
  seat_codes.reserve(layout.seat_count * 16);
  std::int64_t row_index = 0;
  for (const auto& section : layout.sections) {
    const std::string section_id = core::new_uuid();
    section_ids.add(section_id);
    section_names.add(section.name);
    section_codes.add(section.code);
    section_sorts.add(section.sort_order);
    for (const auto& row : section.rows) {
      ++row_index;  // 1-based, as WITH ORDINALITY
      row_ids.add(core::new_uuid());
      row_sections.add(section_id);
      row_names.add(row.name);
      row_sorts.add(row.sort_order);
      for (const auto& seat : row.seats) {
        seat_rows.add(row_index);
        seat_numbers.add(seat.number);
        seat_labels.add(seat.label);
        seat_codes.add(seat_code(section.code, row.name, seat.number));
        seat_xs.add(seat.x);
        seat_ys.add(seat.y);
      }
    }
  }
  // Row ids and their sections are needed twice (rows, then seats by position).
  std::string row_ids_text = std::move(row_ids).str();
  std::string row_sections_text = std::move(row_sections).str();
  Params sections(venue_id, org_id, std::move(section_ids).str(), std::move(section_names).str(),
                  std::move(section_codes).str(), std::move(section_sorts).str());
  co_await tx.query(kInsertSections, sections);
  Params rows(venue_id, org_id, row_ids_text, row_sections_text, std::move(row_names).str(),
              std::move(row_sorts).str());
  co_await tx.query(kInsertRows, rows);
  Params seats(venue_id, org_id, std::move(row_ids_text), std::move(row_sections_text),
               std::move(seat_rows).str(), std::move(seat_numbers).str(),
               std::move(seat_labels).str(), std::move(seat_codes).str(), std::move(seat_xs).str(),
               std::move(seat_ys).str());
  co_await tx.query(kInsertSeats, seats);
}

std::string layout_details(const Layout& layout) {
  return "{\"sections\":" + std::to_string(layout.sections.size()) +
         ",\"rows\":" + std::to_string(layout.row_count) +
         ",\"seats\":" + std::to_string(layout.seat_count) + "}";
}

}  // namespace

asio::awaitable<Venue> Repository::create(std::string org_id, NewVenue venue, Layout layout,
                                          core::Actor actor) {
  const std::string venue_id = core::new_uuid();
  auto body = [&](infra::pg::Tx& tx) -> asio::awaitable<void> {
    Params insert(venue_id, org_id, venue.name, venue.address, venue.city, venue.country,
                  venue.timezone, actor.user_id);
    co_await tx.query(kInsertVenue, insert);
    co_await insert_layout(tx, venue_id, org_id, layout);
    Params audit(org_id, actor.user_id, actor.api_key_id, "venue.created", venue_id,
                 layout_details(layout), actor.request_id, actor.ip);
    co_await tx.query(kAudit, audit);
  };
  co_await pool_.transact(body);
  auto found = co_await find(venue_id);
  co_return std::move(*found);
}

asio::awaitable<std::optional<Venue>> Repository::add_sections(std::string venue_id, Layout layout,
                                                               std::vector<std::string>& taken,
                                                               core::Actor actor) {
  auto body = [&](infra::pg::Tx& tx) -> asio::awaitable<bool> {
    Params lock(venue_id);
    auto owner = co_await tx.query(kLockForUpdate, lock);
    if (owner.empty()) co_return false;
    const std::string org_id = owner.string(0, 0);
    ArrayLiteral codes;
    for (const auto& s : layout.sections) codes.add(s.code);
    Params check(venue_id, std::move(codes).str());
    auto clash = co_await tx.query(kTakenCodes, check);
    for (int i = 0; i < clash.rows(); ++i) taken.push_back(clash.string(i, 0));
    if (!taken.empty()) co_return true;
    co_await insert_layout(tx, venue_id, org_id, layout);
    Params audit(org_id, actor.user_id, actor.api_key_id, "venue.sections_added", venue_id,
                 layout_details(layout), actor.request_id, actor.ip);
    co_await tx.query(kAudit, audit);
    co_return true;
  };
  const bool exists = co_await pool_.transact(body);
  if (!exists || !taken.empty()) co_return std::nullopt;
  auto found = co_await find(venue_id);
  co_return found;
}

asio::awaitable<std::optional<Venue>> Repository::find(std::string venue_id) {
  Params params(venue_id);
  auto r = co_await pool_.query(kFind, params);
  if (r.empty()) co_return std::nullopt;
  co_return venue_from(r, 0);
}

asio::awaitable<std::vector<SectionInfo>> Repository::sections(std::string venue_id) {
  Params params(venue_id);
  auto r = co_await pool_.query(kSections, params);
  std::vector<SectionInfo> out;
  for (int i = 0; i < r.rows(); ++i) {
    if (out.empty() || out.back().id != r.text(i, 0)) {
      out.push_back(SectionInfo{r.string(i, 0), r.string(i, 1), r.string(i, 2), r.int64(i, 3), {}});
    }
    out.back().rows.push_back(
        RowInfo{r.string(i, 4), r.string(i, 5), r.int64(i, 6), r.int64(i, 7)});
  }
  co_return out;
}

asio::awaitable<core::Listing<Venue>> Repository::list(std::string org_id, std::int64_t limit,
                                                       std::int64_t offset) {
  Params params(org_id, limit, offset);
  auto r = co_await pool_.query(kList, params);
  std::vector<Venue> out = infra::pg::rows_of(r, venue_from);
  const std::int64_t total = co_await pool_.page_total(r, 11, offset, kCount, Params(org_id));
  co_return core::Listing<Venue>{std::move(out), total};
}

}  // namespace ticketd::venues
