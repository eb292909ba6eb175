#include "modules/events/repository.hpp"

#include <algorithm>
#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>
#include <tuple>
#include <unordered_map>

#include "infra/outbox/outbox.hpp"
#include "infra/pg/array.hpp"
#include "infra/pg/errors.hpp"
#include "infra/pg/sql.hpp"

namespace ticketd::events {

namespace asio = boost::asio;
using infra::pg::ArrayLiteral;
using infra::pg::Params;
using infra::pg::Statement;
using infra::pg::Tx;

namespace {

#define EVENT_COLUMNS \
  "e.id, e.org_id, e.venue_id, e.title, e.description, e.status, " TICKETD_SQL_ISO8601(      \
      "e.starts_at") ", " TICKETD_SQL_ISO8601("e.ends_at") ", e.currency, " TICKETD_SQL_ISO8601( \
      "e.sales_start_at") ", " TICKETD_SQL_ISO8601("e.sales_end_at") ", " TICKETD_SQL_ISO8601(   \
      "e.published_at") ", " TICKETD_SQL_ISO8601("e.cancelled_at") ", " TICKETD_SQL_ISO8601(     \
      "e.created_at") ", " TICKETD_SQL_ISO8601("e.updated_at") ", "                             \
                                                               "(SELECT count(*) FROM "         \
                                                               "event_seats s WHERE "           \
                                                               "s.event_id = e.id), "           \
                                                               "e.inventory_version"

constexpr Statement kFind{"event_find", "SELECT " EVENT_COLUMNS " FROM events e WHERE e.id = $1"};

constexpr Statement kInsert{"event_insert", R"sql(
INSERT INTO events (org_id, venue_id, title, description, starts_at, ends_at, currency,
                    sales_start_at, sales_end_at, created_by)
SELECT v.org_id, v.id, $3, $4, $5::timestamptz, $6::timestamptz, $7, $8::timestamptz,
       $9::timestamptz, NULLIF($10, '')::uuid
FROM venues v WHERE v.id = $2 AND v.org_id = $1
RETURNING id)sql"};

// Inventory for every venue seat the event has none for: all of them at creation, the ones
// added to the venue since on a sync. Sort keys are copied so seat-map reads use one table.
constexpr Statement kSyncSeats{"event_sync_seats", R"sql(
WITH ins AS (
  INSERT INTO event_seats (event_id, org_id, venue_id, venue_seat_id, section_id, row_id,
                           seat_code, seat_number, section_sort, row_sort, label, x, y)
  SELECT e.id, e.org_id, e.venue_id, vs.id, vs.section_id, vs.row_id, vs.seat_code,
         vs.seat_number, sec.sort_order, r.sort_order, vs.label, vs.x, vs.y
  FROM events e
  JOIN venue_seats vs ON vs.venue_id = e.venue_id
  JOIN venue_sections sec ON sec.id = vs.section_id
  JOIN venue_rows r ON r.id = vs.row_id
  WHERE e.id = $1
    AND NOT EXISTS (SELECT 1 FROM event_seats x WHERE x.venue_seat_id = vs.id AND x.event_id = e.id)
  ON CONFLICT (venue_seat_id, event_id) DO NOTHING
  RETURNING 1
)
SELECT count(*) FROM ins)sql"};

constexpr Statement kLockEvent{"event_lock", R"sql(
SELECT org_id, venue_id, status, currency FROM events WHERE id = $1 FOR UPDATE)sql"};

constexpr Statement kBumpVersion{"event_bump_inventory_version", R"sql(
UPDATE events SET inventory_version = inventory_version + 1 WHERE id = $1)sql"};

constexpr Statement kPatch{"event_patch", R"sql(
UPDATE events SET
  title          = coalesce($2, title),
  description    = CASE WHEN $3 THEN $4 ELSE description END,
  starts_at      = coalesce($5::timestamptz, starts_at),
  ends_at        = CASE WHEN $6 THEN $7::timestamptz ELSE ends_at END,
  currency       = coalesce($8, currency),
  sales_start_at = CASE WHEN $9 THEN $10::timestamptz ELSE sales_start_at END,
  sales_end_at   = CASE WHEN $11 THEN $12::timestamptz ELSE sales_end_at END,
  status         = coalesce($13, status),
  published_at   = CASE WHEN $13 = 'PUBLISHED' AND status <> 'PUBLISHED' THEN now() ELSE published_at END,
  cancelled_at   = CASE WHEN $13 = 'CANCELLED' AND status <> 'CANCELLED' THEN now() ELSE cancelled_at END,
  updated_at     = now()
WHERE id = $1)sql"};

// Public callers see published events; members also their organizations' other events.
constexpr Statement kList{"event_list", "SELECT " EVENT_COLUMNS R"sql(, count(*) OVER ()
FROM events e
WHERE ($1::uuid IS NULL OR e.org_id = $1)
  AND ($2::timestamptz IS NULL OR e.starts_at >= $2)
  AND ($3::timestamptz IS NULL OR e.starts_at < $3)
  AND ($4::text IS NULL OR e.title ILIKE '%' || $4 || '%')
  AND ($5::text IS NULL OR e.status = $5)
  AND (e.status = 'PUBLISHED' OR $6 OR e.org_id = ANY($7::uuid[]))
ORDER BY e.starts_at, e.id
LIMIT $8 OFFSET $9)sql"};

constexpr Statement kCount{"event_count", R"sql(
SELECT count(*) FROM events e
WHERE ($1::uuid IS NULL OR e.org_id = $1)
  AND ($2::timestamptz IS NULL OR e.starts_at >= $2)
  AND ($3::timestamptz IS NULL OR e.starts_at < $3)
  AND ($4::text IS NULL OR e.title ILIKE '%' || $4 || '%')
  AND ($5::text IS NULL OR e.status = $5)
  AND (e.status = 'PUBLISHED' OR $6 OR e.org_id = ANY($7::uuid[])))sql"};

// Ticket types with their availability: GA from the capacity slots, SEATED from their seats
// (a lapsed hold counts as available).
#define TICKET_TYPE_QUERY(where) \
  "SELECT t.id, t.event_id, t.name, t.code, t.kind, t.price_cents, t.fees_cents, "            \
  "t.total_capacity, " TICKETD_SQL_ISO8601("t.created_at") ", " TICKETD_SQL_ISO8601(         \
      "t.updated_at") \
  ",\n" \
  "  CASE WHEN t.kind = 'GA' THEN t.total_capacity ELSE c.total END,\n" \
  "  CASE WHEN t.kind = 'GA' THEN t.total_capacity - g.reserved - g.sold ELSE c.available END,\n" \
  "  CASE WHEN t.kind = 'GA' THEN g.reserved ELSE c.reserved END,\n" \
  "  CASE WHEN t.kind = 'GA' THEN g.sold ELSE c.sold END,\n" \
  "  CASE WHEN t.kind = 'GA' THEN 0 ELSE c.blocked END\n" \
  "FROM event_ticket_types t\n" \
  "CROSS JOIN LATERAL (\n" \
  "  SELECT coalesce(sum(s.reserved), 0) AS reserved, coalesce(sum(s.sold), 0) AS sold\n" \
  "  FROM event_ticket_type_slots s WHERE s.ticket_type_id = t.id) g\n" \
  "CROSS JOIN LATERAL (\n" \
  "  SELECT count(*) AS total,\n" \
  "         count(*) FILTER (WHERE es.status = 'AVAILABLE'\n" \
  "                             OR (es.status = 'RESERVED' AND es.reserved_until <= now())) AS available,\n" \
  "         count(*) FILTER (WHERE es.status = 'RESERVED' AND es.reserved_until > now()) AS reserved,\n" \
  "         count(*) FILTER (WHERE es.status = 'SOLD') AS sold,\n" \
  "         count(*) FILTER (WHERE es.status = 'BLOCKED') AS blocked\n" \
  "  FROM event_seats es WHERE es.ticket_type_id = t.id) c\n" \
  "\n" \
  where

constexpr Statement kTicketTypes{
    "event_ticket_types", TICKET_TYPE_QUERY("WHERE t.event_id = $1 ORDER BY t.created_at, t.id")};
constexpr Statement kFindTicketType{"event_find_ticket_type",
                                    TICKET_TYPE_QUERY("WHERE t.event_id = $1 AND t.id = $2")};

// Positions (1-based) of requested section/row/seat ids that are not the event's.
constexpr Statement kUnknownSelection{"event_unknown_selection", R"sql(
SELECT 'section', u.i FROM unnest($3::uuid[]) WITH ORDINALITY AS u(id, i)
 WHERE NOT EXISTS (SELECT 1 FROM venue_sections s WHERE s.id = u.id AND s.venue_id = $2)
UNION ALL
SELECT 'row', u.i FROM unnest($4::uuid[]) WITH ORDINALITY AS u(id, i)
 WHERE NOT EXISTS (SELECT 1 FROM venue_rows r WHERE r.id = u.id AND r.venue_id = $2)
UNION ALL
SELECT 'seat', u.i FROM unnest($5::uuid[]) WITH ORDINALITY AS u(id, i)
 WHERE NOT EXISTS (SELECT 1 FROM event_seats es WHERE es.id = u.id AND es.event_id = $1))sql"};

constexpr Statement kInsertTicketType{"event_insert_ticket_type", R"sql(
INSERT INTO event_ticket_types (event_id, org_id, name, code, kind, price_cents, fees_cents,
                                total_capacity)
VALUES ($1, $2, $3, $4, CASE WHEN $7::int IS NULL THEN 'SEATED' ELSE 'GA' END, $5, $6, $7)
RETURNING id)sql"};

// GA capacity over n slots, as even as possible (the first capacity % n slots get one more).
constexpr Statement kInsertSlots{"event_insert_slots", R"sql(
INSERT INTO event_ticket_type_slots (ticket_type_id, slot, org_id, event_id, capacity)
SELECT $1, g, $2, $3, ($4::int / $5::int) + CASE WHEN g < $4::int % $5::int THEN 1 ELSE 0 END
FROM generate_series(0, $5::int - 1) AS g)sql"};

constexpr Statement kBindSeats{"event_bind_seats", R"sql(
UPDATE event_seats SET ticket_type_id = $2, version = version + 1, updated_at = now()
WHERE event_id = $1
  AND (section_id = ANY($3::uuid[]) OR row_id = ANY($4::uuid[]) OR id = ANY($5::uuid[])))sql"};

constexpr Statement kLockTicketType{"event_lock_ticket_type", R"sql(
SELECT t.kind, e.venue_id, e.status FROM event_ticket_types t JOIN events e ON e.id = t.event_id
WHERE t.event_id = $1 AND t.id = $2 FOR UPDATE)sql"};

constexpr Statement kUpdateTicketType{"event_update_ticket_type", R"sql(
UPDATE event_ticket_types SET
  name = coalesce($3, name),
  code = CASE WHEN $4 THEN $5 ELSE code END,
  price_cents = coalesce($6, price_cents),
  fees_cents = coalesce($7, fees_cents),
  total_capacity = coalesce($8, total_capacity),
  updated_at = now()
WHERE event_id = $1 AND id = $2)sql"};

constexpr Statement kLockSlots{"event_lock_slots", R"sql(
SELECT slot, reserved + sold FROM event_ticket_type_slots WHERE ticket_type_id = $1
ORDER BY slot FOR UPDATE)sql"};

constexpr Statement kResizeSlots{"event_resize_slots", R"sql(
UPDATE event_ticket_type_slots s SET capacity = n.capacity
FROM unnest($2::int[], $3::int[]) AS n(slot, capacity)
WHERE s.ticket_type_id = $1 AND s.slot = n.slot)sql"};

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

Event event_from(const infra::pg::Result& r, int row) {
  Event e;
  e.id = r.string(row, 0);
  e.org_id = r.string(row, 1);
  e.venue_id = r.string(row, 2);
  e.title = r.string(row, 3);
  e.description = r.opt_string(row, 4);
  e.status = r.string(row, 5);
  e.starts_at = r.string(row, 6);
  e.ends_at = r.opt_string(row, 7);
  e.currency = r.string(row, 8);
  e.sales_start_at = r.opt_string(row, 9);
  e.sales_end_at = r.opt_string(row, 10);
  e.published_at = r.opt_string(row, 11);
  e.cancelled_at = r.opt_string(row, 12);
  e.created_at = r.string(row, 13);
  e.updated_at = r.string(row, 14);
  e.seat_count = r.int64(row, 15);
  e.inventory_version = r.int64(row, 16);
  return e;
}

TicketType ticket_type_from(const infra::pg::Result& r, int row) {
  TicketType t;
  t.id = r.string(row, 0);
  t.event_id = r.string(row, 1);
  t.name = r.string(row, 2);
  t.code = r.opt_string(row, 3);
  t.kind = r.string(row, 4);
  t.price_cents = r.int64(row, 5);
  t.fees_cents = r.int64(row, 6);
  t.total_capacity = r.opt_int64(row, 7);
  t.created_at = r.string(row, 8);
  t.updated_at = r.string(row, 9);
  t.counts.total = r.int64(row, 10);
  t.counts.available = r.int64(row, 11);
  t.counts.reserved = r.int64(row, 12);
  t.counts.sold = r.int64(row, 13);
  t.counts.blocked = r.int64(row, 14);
  return t;
}

std::string uuid_array(const std::vector<std::string>& ids) {
  ArrayLiteral a;
  for (const auto& id : ids) a.add(id);
  return std::move(a).str();
}

// Fills `unknown` with the positions (0-based) of ids that are not the event's.
asio::awaitable<void> find_unknown(Tx& tx, const std::string& event_id, const std::string& venue_id,
                                   const SeatSelection& sel, Unknown& unknown) {
  if (sel.empty()) co_return;
  Params params(event_id, venue_id, uuid_array(sel.section_ids), uuid_array(sel.row_ids),
                uuid_array(sel.seat_ids));
  auto r = co_await tx.query(kUnknownSelection, params);
  for (int i = 0; i < r.rows(); ++i) {
    const auto kind = r.text(i, 0);
    const auto pos = static_cast<std::size_t>(r.int64(i, 1) - 1);
    if (kind == "section") unknown.sections.push_back(pos);
    if (kind == "row") unknown.rows.push_back(pos);
    if (kind == "seat") unknown.seats.push_back(pos);
  }
}

asio::awaitable<void> bind_seats(Tx& tx, const std::string& event_id, const std::string& type_id,
                                 const SeatSelection& sel) {
  if (sel.empty()) co_return;
  Params params(event_id, type_id, uuid_array(sel.section_ids), uuid_array(sel.row_ids),
                uuid_array(sel.seat_ids));
  co_await tx.query(kBindSeats, params);
}

asio::awaitable<void> event_updated(Tx& tx, const std::string& event_id, boost::json::array changes,
                                    const core::Actor& actor) {
  Params find(event_id);
  auto r = co_await tx.query(kFind, find);
  infra::outbox::Event ev;
  ev.topic = "event.updated";
  ev.aggregate_type = "event";
  ev.aggregate_id = event_id;
  ev.data = {{"event", to_json(event_from(r, 0))}, {"changes", std::move(changes)}};
  co_await infra::outbox::append(tx, ev, actor);
}

// A ticket-type change bumps the inventory version and tells consumers (event.updated).
asio::awaitable<void> ticket_types_changed(Tx& tx, const std::string& event_id,
                                           const core::Actor& actor) {
  Params bump(event_id);
  co_await tx.query(kBumpVersion, bump);
  boost::json::array changes;
  changes.emplace_back("ticketTypes");
  co_await event_updated(tx, event_id, std::move(changes), actor);
}

// Runs a ticket-type write; a taken code (unique violation, rolled back) is an outcome.
template <typename Body>
asio::awaitable<TicketTypeWrite> write_ticket_type(infra::pg::Pool& pool, Body& body) {
  TicketTypeWrite result;
  bool code_taken = false;
  try {
    result = co_await pool.transact(body);
  } catch (const infra::pg::DbError& e) {
    if (!e.is_unique_violation()) throw;
    code_taken = true;
  }
  if (code_taken) result = TicketTypeWrite{TicketTypeWrite::kCodeTaken, {}, {}};
  co_return result;
}

}  // namespace

asio::awaitable<std::optional<Event>> Repository::find(std::string event_id) {
  Params params(event_id);
  auto r = co_await pool_.query(kFind, params);
  if (r.empty()) co_return std::nullopt;
  co_return event_from(r, 0);
}

asio::awaitable<std::optional<Event>> Repository::create(NewEvent e, core::Actor actor) {
  auto body = [&](Tx& tx) -> asio::awaitable<std::optional<Event>> {
    Params insert(e.org_id, e.venue_id, e.title, e.description, e.starts_at, e.ends_at, e.currency,
                  e.sales_start_at, e.sales_end_at, actor.user_id);
    auto ins = co_await tx.query(kInsert, insert);
    if (ins.empty()) co_return std::nullopt;
    const std::string id = ins.string(0, 0);
    Params sync(id);
    co_await tx.query(kSyncSeats, sync);
    Params find(id);
    auto r = co_await tx.query(kFind, find);
    Event created = event_from(r, 0);
    infra::outbox::Event ev;
    ev.topic = "event.created";
    ev.aggregate_type = "event";
    ev.aggregate_id = id;
    ev.data = {{"event", to_json(created)}};
    co_await infra::outbox::append(tx, ev, actor);
    co_return created;
  };
  auto created = co_await pool_.transact(body);
  co_return created;
}

asio::awaitable<core::Listing<Event>> Repository::list(EventFilter f) {
  std::optional<std::string> q;
  if (f.q) {  // a literal substring: LIKE wildcards in the query are escaped
    std::string escaped;
    for (char c : *f.q) {
      if (c == '%' || c == '_' || c == '\\') escaped += '\\';
      escaped += c;
    }
    q = std::move(escaped);
  }
  const std::string orgs = uuid_array(f.member_orgs);
  Params params(f.org_id, f.from, f.to, q, f.status, f.all_orgs, orgs, f.limit, f.offset);
  auto r = co_await pool_.query(kList, params);
  std::vector<Event> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back(event_from(r, i));
  const std::int64_t total = co_await pool_.page_total(
      r, 17, f.offset, kCount, Params(f.org_id, f.from, f.to, q, f.status, f.all_orgs, orgs));
  co_return core::Listing<Event>{std::move(out), total};
}

asio::awaitable<std::pair<PatchOutcome, std::optional<Event>>> Repository::patch(
    std::string event_id, EventPatch p, std::vector<std::string> changed, core::Actor actor) {
  using Out = std::pair<PatchOutcome, std::optional<Event>>;
  auto body = [&](Tx& tx) -> asio::awaitable<Out> {
    Params lock(event_id);
    auto cur = co_await tx.query(kLockEvent, lock);
    if (cur.empty()) co_return Out{PatchOutcome::kNotFound, std::nullopt};
    const std::string status = cur.string(0, 2);
    const bool status_change = p.status && *p.status != status;
    if (status_change && !((status == "DRAFT" && *p.status != "DRAFT") ||
                           (status == "PUBLISHED" && *p.status == "CANCELLED"))) {
      co_return Out{PatchOutcome::kInvalidTransition, std::nullopt};
    }
    if (status == "CANCELLED" && !changed.empty()) {
      co_return Out{PatchOutcome::kCancelled, std::nullopt};
    }
    if (p.currency && *p.currency != cur.text(0, 3) && status != "DRAFT") {
      co_return Out{PatchOutcome::kNotDraft, std::nullopt};
    }
    if (status_change) changed.emplace_back("status");
    if (changed.empty()) {
      Params find(event_id);
      auto r = co_await tx.query(kFind, find);
      co_return Out{PatchOutcome::kOk, event_from(r, 0)};
    }
    Params params(event_id, p.title, p.description.has_value(),
                  p.description ? *p.description : std::nullopt, p.starts_at, p.ends_at.has_value(),
                  p.ends_at ? *p.ends_at : std::nullopt, p.currency, p.sales_start_at.has_value(),
                  p.sales_start_at ? *p.sales_start_at : std::nullopt, p.sales_end_at.has_value(),
                  p.sales_end_at ? *p.sales_end_at : std::nullopt,
                  status_change ? p.status : std::nullopt);
    co_await tx.query(kPatch, params);
    boost::json::array changes;
    for (const auto& c : changed) changes.emplace_back(c);
    co_await event_updated(tx, event_id, std::move(changes), actor);
    Params find(event_id);
    auto r = co_await tx.query(kFind, find);
    co_return Out{PatchOutcome::kOk, event_from(r, 0)};
  };
  Out out;
  std::optional<PatchOutcome> violated;
  try {
    out = co_await pool_.transact(body);
  } catch (const infra::pg::DbError& e) {
    // A partial update can break a rule that spans a stored field (endsAt vs startsAt).
    if (e.constraint() == "events_ends_after_start") {
      violated = PatchOutcome::kEndsBeforeStart;
    } else if (e.constraint() == "events_sales_window_order") {
      violated = PatchOutcome::kSalesWindowReversed;
    } else {
      throw;
    }
  }
  if (violated) out = Out{*violated, std::nullopt};
  co_return out;
}

asio::awaitable<std::optional<std::int64_t>> Repository::sync_seats(std::string event_id,
                                                                    core::Actor actor) {
  auto body = [&](Tx& tx) -> asio::awaitable<std::optional<std::int64_t>> {
    Params lock(event_id);
    auto cur = co_await tx.query(kLockEvent, lock);
    if (cur.empty() || cur.text(0, 2) == "CANCELLED") co_return std::nullopt;
    Params sync(event_id);
    auto r = co_await tx.query(kSyncSeats, sync);
    const std::int64_t added = r.int64(0, 0);
    if (added > 0) {
      Params bump(event_id);
      co_await tx.query(kBumpVersion, bump);
      boost::json::array changes;
      changes.emplace_back("seats");
      co_await event_updated(tx, event_id, std::move(changes), actor);
    }
    co_return added;
  };
  auto added = co_await pool_.transact(body);
  co_return added;
}

asio::awaitable<std::vector<TicketType>> Repository::ticket_types(std::string event_id) {
  Params params(event_id);
  auto r = co_await pool_.query(kTicketTypes, params);
  std::vector<TicketType> out;
  out.reserve(static_cast<std::size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) out.push_back(ticket_type_from(r, i));
  co_return out;
}

asio::awaitable<std::optional<TicketType>> Repository::find_ticket_type(std::string event_id,
                                                                        std::string id) {
  Params params(event_id, id);
  auto r = co_await pool_.query(kFindTicketType, params);
  if (r.empty()) co_return std::nullopt;
  co_return ticket_type_from(r, 0);
}

asio::awaitable<TicketTypeWrite> Repository::create_ticket_type(std::string event_id,
                                                                std::string org_id, NewTicketType t,
                                                                int slots, core::Actor actor) {
  using W = TicketTypeWrite;
  auto body = [&](Tx& tx) -> asio::awaitable<W> {
    W out;
    Params lock(event_id);
    auto cur = co_await tx.query(kLockEvent, lock);
    if (cur.empty()) co_return W{W::kNotFound, {}, {}};
    if (cur.text(0, 2) == "CANCELLED") co_return W{W::kCancelled, {}, {}};
    const std::string venue_id = cur.string(0, 1);
    co_await find_unknown(tx, event_id, venue_id, t.seats, out.unknown);
    if (out.unknown.any()) {
      out.outcome = W::kUnknownIds;
      co_return out;
    }
    Params insert(event_id, org_id, t.name, t.code, t.price_cents, t.fees_cents, t.total_capacity);
    auto ins = co_await tx.query(kInsertTicketType, insert);
    out.id = ins.string(0, 0);
    if (t.total_capacity) {
      const std::int64_t n = std::min<std::int64_t>(slots, *t.total_capacity);
      Params slot_params(out.id, org_id, event_id, *t.total_capacity, n);
      co_await tx.query(kInsertSlots, slot_params);
    }
    co_await bind_seats(tx, event_id, out.id, t.seats);
    co_await ticket_types_changed(tx, event_id, actor);
    co_return out;
  };
  auto result = co_await write_ticket_type(pool_, body);
  co_return result;
}

asio::awaitable<TicketTypeWrite> Repository::update_ticket_type(std::string event_id,
                                                                std::string id, TicketTypePatch p,
                                                                core::Actor actor) {
  using W = TicketTypeWrite;
  auto body = [&](Tx& tx) -> asio::awaitable<W> {
    W out;
    out.id = id;
    Params lock(event_id, id);
    auto cur = co_await tx.query(kLockTicketType, lock);
    if (cur.empty()) co_return W{W::kNotFound, {}, {}};
    if (cur.text(0, 2) == "CANCELLED") co_return W{W::kCancelled, {}, {}};
    const std::string venue_id = cur.string(0, 1);
    co_await find_unknown(tx, event_id, venue_id, p.seats, out.unknown);
    if (out.unknown.any()) {
      out.outcome = W::kUnknownIds;
      co_return out;
    }
    if (p.total_capacity) {
      // Each slot keeps what it holds and shares the rest; below what is held is refused.
      Params slots_params(id);
      auto slots = co_await tx.query(kLockSlots, slots_params);
      const auto n = static_cast<std::int64_t>(slots.rows());
      std::int64_t held = 0;
      for (int i = 0; i < slots.rows(); ++i) held += slots.int64(i, 1);
      if (*p.total_capacity < held || n == 0) {
        out.outcome = W::kBelowHeld;
        co_return out;
      }
      const std::int64_t free = *p.total_capacity - held;
      ArrayLiteral numbers, capacities;
      for (int i = 0; i < slots.rows(); ++i) {
        numbers.add(slots.int64(i, 0));
        capacities.add(slots.int64(i, 1) + free / n + (i < free % n ? 1 : 0));
      }
      Params resize(id, std::move(numbers).str(), std::move(capacities).str());
      co_await tx.query(kResizeSlots, resize);
    }
    Params update(event_id, id, p.name, p.code.has_value(), p.code ? *p.code : std::nullopt,
                  p.price_cents, p.fees_cents, p.total_capacity);
    co_await tx.query(kUpdateTicketType, update);
    co_await bind_seats(tx, event_id, id, p.seats);
    co_await ticket_types_changed(tx, event_id, actor);
    co_return out;
  };
  auto result = co_await write_ticket_type(pool_, body);
  co_return result;
}

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
