#include "modules/events/repository.hpp"
// events::Repository, seats: status/price/type changes of an event's seats and the seat-map read
// behind the snapshots.

#include <algorithm>
#include <tuple>
#include <unordered_map>

#include "infra/pg/array.hpp"
#include "infra/pg/sql.hpp"
#include "modules/events/repository_shared.hpp"

namespace ticketd::events {

namespace asio = boost::asio;
using infra::pg::ArrayLiteral;
using infra::pg::Params;
using infra::pg::Statement;

using namespace detail;  // the repository's shared statements and helpers

namespace {

// One statement: validate every requested seat, then change all of them or none.
// $3 status, ($4,$5) price, ($6,$7) fees, ($8,$9) ticket type: the booleans say "set it".
constexpr Statement kPatchSeats{"event_patch_seats", R"sql(
WITH req AS (
  SELECT u.id, u.i FROM unnest($2::uuid[]) WITH ORDINALITY AS u(id, i)
), target AS (
  SELECT s.id, s.status, s.reserved_until FROM event_seats s
  WHERE s.event_id = $1 AND s.id IN (SELECT id FROM req)
  FOR UPDATE
), problems AS (
  SELECT 'UNKNOWN'::text AS kind, req.i FROM req
   WHERE NOT EXISTS (SELECT 1 FROM target t WHERE t.id = req.id)
  UNION ALL
  SELECT 'NOT_BLOCKABLE', req.i FROM req JOIN target t ON t.id = req.id
   WHERE $3::text IS NOT NULL
     AND (t.status = 'SOLD' OR (t.status = 'RESERVED' AND t.reserved_until > now()))
  UNION ALL
  SELECT 'UNKNOWN_TICKET_TYPE', 0
   WHERE $8 AND $9::uuid IS NOT NULL
     AND NOT EXISTS (SELECT 1 FROM event_ticket_types tt
                     WHERE tt.id = $9::uuid AND tt.event_id = $1 AND tt.kind = 'SEATED')
), upd AS (
  UPDATE event_seats s SET
    status         = coalesce($3::text, s.status),
    reservation_id = CASE WHEN $3::text IS NULL THEN s.reservation_id END,
    reserved_until = CASE WHEN $3::text IS NULL THEN s.reserved_until END,
    price_cents    = CASE WHEN $4 THEN $5::bigint ELSE s.price_cents END,
    fees_cents     = CASE WHEN $6 THEN $7::bigint ELSE s.fees_cents END,
    ticket_type_id = CASE WHEN $8 THEN $9::uuid ELSE s.ticket_type_id END,
    version        = s.version + 1,
    updated_at     = now()
  FROM target t
  WHERE s.id = t.id AND NOT EXISTS (SELECT 1 FROM problems)
  RETURNING s.id
), bump AS (
  UPDATE events SET inventory_version = inventory_version + 1
  WHERE id = $1 AND EXISTS (SELECT 1 FROM upd)
)
SELECT kind, i FROM problems
UNION ALL
SELECT 'UPDATED', count(*) FROM upd)sql"};

// One table, in the order of its natural-order index (no sort step); names and prices are
// resolved in C++ from the small layout and ticket-type lists, where sections or rows that share
// a sort key are also ordered by code and name.
constexpr Statement kSeatMap{"event_seat_map", R"sql(
SELECT id, seat_number, label, seat_code, section_id, row_id,
       CASE WHEN status = 'RESERVED' AND reserved_until <= now() THEN 'AVAILABLE' ELSE status END,
       price_cents, fees_cents, ticket_type_id,
       CASE WHEN status = 'RESERVED' AND reserved_until > now()
            THEN )sql" TICKETD_SQL_ISO8601("reserved_until") R"sql( END,
       CASE WHEN status = 'RESERVED' AND reserved_until > now()
            THEN ceil(extract(epoch FROM reserved_until - now()) * 1000)::bigint END,
       x, y, section_sort, row_sort
FROM event_seats
WHERE event_id = $1
ORDER BY section_sort, row_sort, seat_number, id)sql"};

constexpr Statement kLayoutNames{"event_layout_names", R"sql(
SELECT s.id, s.name, s.code, r.id, r.name
FROM venue_sections s JOIN venue_rows r ON r.section_id = s.id
WHERE s.venue_id = $1)sql"};

}  // namespace

asio::awaitable<SeatPatchResult> Repository::patch_seats(std::string event_id, SeatPatch p,
                                                         core::Actor) {
  Params params(event_id, uuid_array(p.seat_ids), p.status, p.price_cents.has_value(),
                p.price_cents ? *p.price_cents : std::nullopt, p.fees_cents.has_value(),
                p.fees_cents ? *p.fees_cents : std::nullopt, p.ticket_type_id.has_value(),
                p.ticket_type_id ? *p.ticket_type_id : std::nullopt);
  auto r = co_await pool_.query(kPatchSeats, params);
  SeatPatchResult out;
  for (int i = 0; i < r.rows(); ++i) {
    const auto kind = r.text(i, 0);
    const auto n = r.int64(i, 1);
    if (kind == "UPDATED") {
      out.updated = n;
    } else if (kind == "UNKNOWN") {
      out.unknown.push_back(static_cast<std::size_t>(n - 1));
    } else if (kind == "NOT_BLOCKABLE") {
      out.not_blockable.push_back(static_cast<std::size_t>(n - 1));
    } else if (kind == "UNKNOWN_TICKET_TYPE") {
      out.unknown_ticket_type = true;
    }
  }
  co_return out;
}

asio::awaitable<std::optional<Repository::SeatMapRows>> Repository::load_seat_map(
    std::string event_id) {
  auto body = [&](Tx& tx) -> asio::awaitable<std::optional<SeatMapRows>> {
    // One snapshot for the event, its ticket types and its seats.
    co_await tx.exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY");
    Params find(event_id);
    auto ev = co_await tx.query(kFind, find);
    if (ev.empty()) co_return std::nullopt;
    SeatMapRows out;
    out.event = event_from(ev, 0);
    Params types_params(event_id);
    auto types = co_await tx.query(kTicketTypes, types_params);
    for (int i = 0; i < types.rows(); ++i) out.ticket_types.push_back(ticket_type_from(types, i));
    // Names of the venue's sections and rows, and prices of the event's ticket types.
    struct SectionName {
      std::string name, code;
    };
    std::unordered_map<std::string, SectionName> sections;
    std::unordered_map<std::string, std::string> rows;
    Params layout_params(out.event.venue_id);
    auto names = co_await tx.query(kLayoutNames, layout_params);
    for (int i = 0; i < names.rows(); ++i) {
      sections.try_emplace(names.string(i, 0), SectionName{names.string(i, 1), names.string(i, 2)});
      rows.emplace(names.string(i, 3), names.string(i, 4));
    }
    std::unordered_map<std::string, const TicketType*> type_by_id;
    for (const auto& t : out.ticket_types) type_by_id.emplace(t.id, &t);

    Params seats_params(event_id);
    auto r = co_await tx.query(kSeatMap, seats_params);
    out.seats.reserve(static_cast<std::size_t>(r.rows()));
    for (int i = 0; i < r.rows(); ++i) {
      Seat s;
      s.id = r.string(i, 0);
      s.seat_number = r.int64(i, 1);
      s.label = r.opt_string(i, 2);
      s.seat_code = r.string(i, 3);
      s.section_id = r.string(i, 4);
      s.row_id = r.string(i, 5);
      if (auto it = sections.find(s.section_id); it != sections.end()) {
        s.section = it->second.name;
        s.section_code = it->second.code;
      }
      if (auto it = rows.find(s.row_id); it != rows.end()) s.row = it->second;
      s.status = r.string(i, 6);
      s.price_cents = r.opt_int64(i, 7);
      s.fees_cents = r.opt_int64(i, 8);
      s.ticket_type_id = r.opt_string(i, 9);
      if (s.ticket_type_id) {  // a seat's price: its override, else its ticket type's
        if (auto it = type_by_id.find(*s.ticket_type_id); it != type_by_id.end()) {
          if (!s.price_cents) s.price_cents = it->second->price_cents;
          if (!s.fees_cents) s.fees_cents = it->second->fees_cents;
        }
      }
      s.reserved_until = r.opt_string(i, 10);
      if (!r.is_null(i, 11)) {
        const auto ms = r.int64(i, 11);
        if (!out.next_expiry_ms || ms < *out.next_expiry_ms) out.next_expiry_ms = ms;
      }
      if (!r.is_null(i, 12)) s.x = r.float64(i, 12);
      if (!r.is_null(i, 13)) s.y = r.float64(i, 13);
      s.section_sort = r.int64(i, 14);
      s.row_sort = r.int64(i, 15);
      out.seats.push_back(std::move(s));
    }
    // The index order interleaves sections (or rows) that share a sort key; keep each whole.
    auto natural = [](const Seat& a, const Seat& b) {
      return std::tie(a.section_sort, a.section_code, a.section_id, a.row_sort, a.row, a.row_id,
                      a.seat_number, a.id) < std::tie(b.section_sort, b.section_code, b.section_id,
                                                      b.row_sort, b.row, b.row_id, b.seat_number,
                                                      b.id);
    };
    if (!std::is_sorted(out.seats.begin(), out.seats.end(), natural)) {
      std::sort(out.seats.begin(), out.seats.end(), natural);
    }
    co_return out;
  };
  auto rows = co_await pool_.transact(body);
  co_return rows;
}

}  // namespace ticketd::events
