#pragma once
// What the three parts of events::Repository (repository.cpp: events,
// repository_ticket_types.cpp, repository_seats.cpp) share: the event and ticket-type columns with
// their row readers, the event lock and version bump, the event.updated outbox row, and the check
// of a seat selection.
#include <boost/asio/awaitable.hpp>
#include <boost/json/array.hpp>
#include <string>
#include <vector>

#include "core/actor.hpp"
#include "infra/pg/pool.hpp"
#include "infra/pg/sql.hpp"
#include "modules/events/repository.hpp"

namespace ticketd::events::detail {

using infra::pg::Statement;
using infra::pg::Tx;

#define EVENT_COLUMNS \
  "e.id, e.org_id, e.venue_id, e.title, e.description, e.status, " TICKETD_SQL_ISO8601(      \
      "e.starts_at") ", " TICKETD_SQL_ISO8601("e.ends_at") ", e.currency, " TICKETD_SQL_ISO8601( \
      "e.sales_start_at") ", " TICKETD_SQL_ISO8601("e.sales_end_at") ", " TICKETD_SQL_ISO8601(   \
      "e.published_at") ", " TICKETD_SQL_ISO8601("e.cancelled_at") ", " TICKETD_SQL_ISO8601(     \
      "e.created_at") ", " TICKETD_SQL_ISO8601("e.updated_at") ", "                             \
                                                               "(SELECT count(*) FROM "         \
                                                               "event_seats s WHERE "           \
                                                               "s.event_id = e.id), "           \
                                                               "e.inventory_version, "          \
                                                               "e.queue_mode, "                 \
                                                               "e.queue_admit_per_second, "     \
                                                               "e.queue_auto_threshold_per_second"
// How many columns EVENT_COLUMNS selects (a list's total follows them).
inline constexpr int kEventColumns = 20;

inline constexpr Statement kFind{"event_find",
                                 "SELECT " EVENT_COLUMNS " FROM events e WHERE e.id = $1"};

inline constexpr Statement kLockEvent{"event_lock", R"sql(
SELECT org_id, venue_id, status, currency FROM events WHERE id = $1 FOR UPDATE)sql"};

inline constexpr Statement kBumpVersion{"event_bump_inventory_version", R"sql(
UPDATE events SET inventory_version = inventory_version + 1 WHERE id = $1)sql"};

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

inline constexpr Statement kTicketTypes{
    "event_ticket_types", TICKET_TYPE_QUERY("WHERE t.event_id = $1 ORDER BY t.created_at, t.id")};
inline constexpr Statement kUnknownSelection{"event_unknown_selection", R"sql(
SELECT 'section', u.i FROM unnest($3::uuid[]) WITH ORDINALITY AS u(id, i)
 WHERE NOT EXISTS (SELECT 1 FROM venue_sections s WHERE s.id = u.id AND s.venue_id = $2)
UNION ALL
SELECT 'row', u.i FROM unnest($4::uuid[]) WITH ORDINALITY AS u(id, i)
 WHERE NOT EXISTS (SELECT 1 FROM venue_rows r WHERE r.id = u.id AND r.venue_id = $2)
UNION ALL
SELECT 'seat', u.i FROM unnest($5::uuid[]) WITH ORDINALITY AS u(id, i)
 WHERE NOT EXISTS (SELECT 1 FROM event_seats es WHERE es.id = u.id AND es.event_id = $1))sql"};

Event event_from(const infra::pg::Result& r, int row);
TicketType ticket_type_from(const infra::pg::Result& r, int row);
std::string uuid_array(const std::vector<std::string>& ids);
// Fills `unknown` with the positions (0-based) of ids that are not the event's.
boost::asio::awaitable<void> find_unknown(Tx& tx, const std::string& event_id,
                                          const std::string& venue_id, const SeatSelection& sel,
                                          Unknown& unknown);
// Writes the event.updated outbox row: the event as it is now, and what changed.
boost::asio::awaitable<void> event_updated(Tx& tx, const std::string& event_id,
                                           boost::json::array changes, const core::Actor& actor);

}  // namespace ticketd::events::detail
