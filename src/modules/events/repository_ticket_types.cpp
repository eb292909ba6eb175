#include "modules/events/repository.hpp"
// events::Repository, ticket types: listing, creating and changing them (GA capacity slots,
// seat bindings) with the event.updated row of each change.

#include <algorithm>
#include <boost/json/array.hpp>

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

constexpr Statement kFindTicketType{"event_find_ticket_type",
                                    TICKET_TYPE_QUERY("WHERE t.event_id = $1 AND t.id = $2")};

// Positions (1-based) of requested section/row/seat ids that are not the event's.
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

asio::awaitable<void> bind_seats(Tx& tx, const std::string& event_id, const std::string& type_id,
                                 const SeatSelection& sel) {
  if (sel.empty()) co_return;
  Params params(event_id, type_id, uuid_array(sel.section_ids), uuid_array(sel.row_ids),
                uuid_array(sel.seat_ids));
  co_await tx.query(kBindSeats, params);
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

asio::awaitable<std::vector<TicketType>> Repository::ticket_types(std::string event_id) {
  Params params(event_id);
  auto r = co_await pool_.query(kTicketTypes, params);
  co_return infra::pg::rows_of(r, ticket_type_from);
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

}  // namespace ticketd::events
