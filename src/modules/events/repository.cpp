#include "modules/events/repository.hpp"

#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>

#include "infra/outbox/outbox.hpp"
#include "infra/pg/array.hpp"
#include "infra/pg/errors.hpp"
#include "modules/events/repository_shared.hpp"

namespace ticketd::events {

namespace asio = boost::asio;
using infra::pg::ArrayLiteral;
using infra::pg::Params;
using infra::pg::Statement;
using infra::pg::Tx;

using namespace detail;  // the repository's shared statements and helpers

namespace {

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
  queue_mode     = coalesce($14, queue_mode),
  queue_admit_per_second = coalesce($15::int, queue_admit_per_second),
  queue_auto_threshold_per_second = coalesce($16::int, queue_auto_threshold_per_second),
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

}  // namespace

namespace detail {

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
  e.queue.mode = r.string(row, 17);
  e.queue.admit_per_second = r.int64(row, 18);
  e.queue.auto_threshold_per_second = r.int64(row, 19);
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

}  // namespace detail

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
  std::vector<Event> out = infra::pg::rows_of(r, event_from);
  const std::int64_t total =
      co_await pool_.page_total(r, kEventColumns, f.offset, kCount,
                                Params(f.org_id, f.from, f.to, q, f.status, f.all_orgs, orgs));
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
                  status_change ? p.status : std::nullopt, p.queue_mode, p.queue_admit_per_second,
                  p.queue_auto_threshold_per_second);
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

}  // namespace ticketd::events
