#include "modules/tickets/repository.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value_to.hpp>

#include "core/outcome.hpp"
#include "infra/pg/array.hpp"

namespace ticketd::tickets {

namespace asio = boost::asio;
using infra::pg::ArrayLiteral;
using infra::pg::Params;
using infra::pg::Statement;
using infra::pg::Tx;

namespace {

constexpr Statement kFindKey{"ticket_key_find", R"sql(
SELECT key_id, encode(public_key, 'hex'), encode(sealed_secret, 'hex'), iso_utc(created_at)
FROM org_ticket_keys WHERE org_id = $1)sql"};
constexpr Statement kInsertKey{"ticket_key_insert", R"sql(
INSERT INTO org_ticket_keys (org_id, key_id, public_key, sealed_secret)
SELECT $1, $2, decode($3, 'hex'), decode($4, 'hex')
WHERE EXISTS (SELECT 1 FROM organizations WHERE id = $1)
ON CONFLICT (org_id) DO NOTHING
RETURNING 1)sql"};
// Only while it still holds what was read: two instances re-sealing at once both succeed
// harmlessly.
constexpr Statement kResealKey{"ticket_key_reseal", R"sql(
UPDATE org_ticket_keys SET sealed_secret = decode($3, 'hex')
 WHERE org_id = $1 AND sealed_secret = decode($2, 'hex'))sql"};
constexpr Statement kOrgExists{"ticket_key_org_exists",
                               "SELECT 1 FROM organizations WHERE id = $1"};
constexpr core::OutcomeTable<Finalization, 4> kFinalizations{
    {{"ISSUE", Finalization::kIssue},
     {"REFUND_REQUIRED", Finalization::kRefundRequired},
     {"NOOP", Finalization::kNoop},
     {"MISSING", Finalization::kMissing}}};
constexpr core::OutcomeTable<CheckIn, 5> kCheckIns{
    {{"CHECKED_IN", CheckIn::kCheckedIn},
     {"ALREADY_CHECKED_IN", CheckIn::kAlreadyCheckedIn},
     {"WRONG_EVENT", CheckIn::kWrongEvent},
     {"NOT_ISSUED", CheckIn::kNotIssued},
     {"NOT_FOUND", CheckIn::kNotFound}}};

constexpr Statement kBegin{"finalize_begin", R"sql(
SELECT v->>'action', coalesce(v->>'reason', ''), coalesce(v->>'orgId', ''),
       coalesce(v->>'eventId', ''), coalesce((v->>'units')::int, 0)
FROM finalize_payment_begin($1, $2) v)sql"};
constexpr Statement kIssue{"finalize_issue", R"sql(
SELECT v->>'orderId', v->>'eventId', v->>'reservationId', (v->>'tickets')::int,
       coalesce(v->'seats', '[]')::text
FROM finalize_payment_issue($1, $2::uuid[], $3::text[], $4) v)sql"};
constexpr Statement kFindTicket{"ticket_find",
                                "SELECT user_id, org_id, ticket_json(id)::text FROM tickets "
                                "WHERE id = $1"};
constexpr Statement kFindOrder{"order_find",
                               "SELECT user_id, org_id, order_json(id)::text FROM orders "
                               "WHERE id = $1"};
constexpr Statement kTicketsOfUser{"tickets_of_user", R"sql(
SELECT ticket_json(id)::text, count(*) OVER () FROM tickets WHERE user_id = $1
ORDER BY issued_at DESC, id LIMIT $2 OFFSET $3)sql"};
constexpr Statement kCountTicketsOfUser{"tickets_of_user_count",
                                        "SELECT count(*) FROM tickets WHERE user_id = $1"};
constexpr Statement kOrdersOfUser{"orders_of_user", R"sql(
SELECT order_json(id)::text, count(*) OVER () FROM orders WHERE user_id = $1
ORDER BY created_at DESC, id LIMIT $2 OFFSET $3)sql"};
constexpr Statement kCountOrdersOfUser{"orders_of_user_count",
                                       "SELECT count(*) FROM orders WHERE user_id = $1"};
constexpr Statement kTicketsOfEvent{"tickets_of_event", R"sql(
SELECT ticket_json(id)::text, count(*) OVER () FROM tickets WHERE event_id = $1
ORDER BY issued_at DESC, id LIMIT $2 OFFSET $3)sql"};
constexpr Statement kCountTicketsOfEvent{"tickets_of_event_count",
                                         "SELECT count(*) FROM tickets WHERE event_id = $1"};
constexpr Statement kOrdersOfEvent{"orders_of_event", R"sql(
SELECT order_json(id)::text, count(*) OVER () FROM orders WHERE event_id = $1
ORDER BY created_at DESC, id LIMIT $2 OFFSET $3)sql"};
constexpr Statement kCountOrdersOfEvent{"orders_of_event_count",
                                        "SELECT count(*) FROM orders WHERE event_id = $1"};
// One statement over the event's rows (each part uses an index leading with event_id).
constexpr Statement kEventStats{"event_stats", R"sql(
SELECT jsonb_build_object(
  'eventId', e.id, 'currency', e.currency, 'generatedAt', iso_utc(now()),
  'seats', (SELECT jsonb_build_object(
              'total', count(*),
              'available', count(*) FILTER (WHERE status = 'AVAILABLE'),
              'reserved', count(*) FILTER (WHERE status = 'RESERVED'),
              'lapsedHolds', count(*) FILTER (WHERE status = 'RESERVED' AND reserved_until <= now()),
              'sold', count(*) FILTER (WHERE status = 'SOLD'),
              'blocked', count(*) FILTER (WHERE status = 'BLOCKED'))
            FROM event_seats WHERE event_id = e.id),
  'reservations', (SELECT jsonb_build_object(
              'active', count(*) FILTER (WHERE status = 'ACTIVE'),
              'confirmed', count(*) FILTER (WHERE status = 'CONFIRMED'),
              'expired', count(*) FILTER (WHERE status = 'EXPIRED'),
              'cancelled', count(*) FILTER (WHERE status = 'CANCELLED'))
            FROM reservations WHERE event_id = e.id),
  'orders', (SELECT jsonb_build_object(
              'paid', count(*) FILTER (WHERE status = 'PAID'),
              'refunded', count(*) FILTER (WHERE status = 'REFUNDED'),
              'revenueCents', coalesce(sum(total_cents) FILTER (WHERE status = 'PAID'), 0),
              'refundedCents', coalesce(sum(total_cents) FILTER (WHERE status = 'REFUNDED'), 0))
            FROM orders WHERE event_id = e.id),
  'tickets', (SELECT jsonb_build_object(
              'issued', count(*) FILTER (WHERE status = 'ISSUED'),
              'refunded', count(*) FILTER (WHERE status = 'REFUNDED'),
              'voided', count(*) FILTER (WHERE status = 'VOIDED'),
              'checkedIn', count(*) FILTER (WHERE checked_in_at IS NOT NULL))
            FROM tickets WHERE event_id = e.id),
  'ticketTypes', coalesce((
    SELECT jsonb_agg(jsonb_build_object(
             'id', tt.id, 'name', tt.name, 'kind', tt.kind, 'priceCents', tt.price_cents,
             'feesCents', tt.fees_cents, 'capacity', coalesce(tt.total_capacity, st.total),
             'reserved', coalesce(ga.reserved, st.reserved, 0),
             'sold', coalesce(ga.sold, st.sold, 0),
             'available', CASE WHEN tt.kind = 'GA'
                               THEN tt.total_capacity - coalesce(ga.reserved, 0) - coalesce(ga.sold, 0)
                               ELSE coalesce(st.available, 0) END,
             'revenueCents', coalesce(rv.cents, 0))
           ORDER BY tt.created_at, tt.id)
    FROM event_ticket_types tt
    LEFT JOIN LATERAL (SELECT sum(reserved) AS reserved, sum(sold) AS sold
                         FROM event_ticket_type_slots WHERE ticket_type_id = tt.id) ga
           ON tt.kind = 'GA'
    LEFT JOIN LATERAL (SELECT count(*) AS total,
                              count(*) FILTER (WHERE status = 'AVAILABLE') AS available,
                              count(*) FILTER (WHERE status = 'RESERVED') AS reserved,
                              count(*) FILTER (WHERE status = 'SOLD') AS sold
                         FROM event_seats WHERE event_id = e.id AND ticket_type_id = tt.id) st
           ON tt.kind = 'SEATED'
    LEFT JOIN LATERAL (SELECT sum((oi.unit_price_cents + oi.unit_fees_cents) * oi.quantity) AS cents
                         FROM order_items oi JOIN orders o ON o.id = oi.order_id
                        WHERE oi.ticket_type_id = tt.id AND o.status = 'PAID') rv ON true
    WHERE tt.event_id = e.id), '[]'::jsonb))::text
FROM events e WHERE e.id = $1)sql"};

constexpr Statement kCheckIn{"ticket_check_in", R"sql(
SELECT v->>'outcome', coalesce((v->'ticket')::text, ''), coalesce(v->>'checkedInAt', ''),
       coalesce(v->>'status', '')
FROM check_in_ticket($1, $2, $3, $4) v)sql"};

}  // namespace

asio::awaitable<std::optional<StoredKey>> Repository::find_key(std::string org_id) {
  Params params(org_id);
  auto r = co_await pool_.query(kFindKey, params);
  if (r.empty()) co_return std::nullopt;
  co_return StoredKey{r.string(0, 0), r.string(0, 1), r.string(0, 2), r.string(0, 3)};
}

asio::awaitable<bool> Repository::insert_key(std::string org_id, StoredKey key) {
  Params params(org_id, key.key_id, key.public_key_hex, key.sealed_secret_hex);
  auto r = co_await pool_.query(kInsertKey, params);
  if (!r.empty()) co_return true;
  Params exists(org_id);
  auto e = co_await pool_.query(kOrgExists, exists);
  co_return !e.empty();
}

asio::awaitable<void> Repository::reseal_key(std::string org_id, std::string old_sealed_hex,
                                             std::string new_sealed_hex) {
  Params params(org_id, old_sealed_hex, new_sealed_hex);
  co_await pool_.query(kResealKey, params);
}

asio::awaitable<FinalizeResult> Repository::finalize(std::string payment_id,
                                                     std::string correlation_id,
                                                     const Minter& mint) {
  auto body = [&](Tx& tx) -> asio::awaitable<FinalizeResult> {
    Params begin(payment_id, correlation_id);
    auto b = co_await tx.query(kBegin, begin);
    FinalizeResult out;
    out.action = core::outcome_of(b.text(0, 0), kFinalizations, "finalize_payment_begin()");
    out.reason = b.string(0, 1);
    if (out.action != Finalization::kIssue) co_return out;
    std::string org_id = b.string(0, 2);
    std::string event_id = b.string(0, 3);
    const int units = static_cast<int>(b.int64(0, 4));
    auto minted = co_await mint(std::move(org_id), std::move(event_id), units);
    ArrayLiteral ids, codes;
    for (const auto& [id, code] : minted) {
      ids.add(id);
      codes.add(code);
    }
    Params issue(payment_id, std::move(ids).str(), std::move(codes).str(), correlation_id);
    auto i = co_await tx.query(kIssue, issue);
    out.order_id = i.string(0, 0);
    out.event_id = i.string(0, 1);
    out.reservation_id = i.string(0, 2);
    out.tickets = static_cast<int>(i.int64(0, 3));
    out.sold_seats =
        boost::json::value_to<std::vector<std::string>>(boost::json::parse(i.text(0, 4)));
    co_return out;
  };
  auto result = co_await pool_.transact(body);
  co_return result;
}

asio::awaitable<std::optional<Owned>> Repository::find_ticket(std::string id) {
  Params params(id);
  auto r = co_await pool_.query(kFindTicket, params);
  if (r.empty()) co_return std::nullopt;
  co_return Owned{r.string(0, 0), r.string(0, 1), r.string(0, 2)};
}

asio::awaitable<std::optional<Owned>> Repository::find_order(std::string id) {
  Params params(id);
  auto r = co_await pool_.query(kFindOrder, params);
  if (r.empty()) co_return std::nullopt;
  co_return Owned{r.string(0, 0), r.string(0, 1), r.string(0, 2)};
}

asio::awaitable<core::Listing<std::string>> Repository::page(const Statement& list,
                                                             const Statement& count,
                                                             std::string key, std::int64_t limit,
                                                             std::int64_t offset) {
  Params params(key, limit, offset);
  Params count_params(key);
  auto page = co_await pool_.rendered_page(list, params, offset, count, count_params);
  co_return page;
}

asio::awaitable<core::Listing<std::string>> Repository::tickets_of_user(std::string user_id,
                                                                        std::int64_t limit,
                                                                        std::int64_t offset) {
  auto p = co_await page(kTicketsOfUser, kCountTicketsOfUser, std::move(user_id), limit, offset);
  co_return p;
}

asio::awaitable<core::Listing<std::string>> Repository::orders_of_user(std::string user_id,
                                                                       std::int64_t limit,
                                                                       std::int64_t offset) {
  auto p = co_await page(kOrdersOfUser, kCountOrdersOfUser, std::move(user_id), limit, offset);
  co_return p;
}

asio::awaitable<core::Listing<std::string>> Repository::tickets_of_event(std::string event_id,
                                                                         std::int64_t limit,
                                                                         std::int64_t offset) {
  auto p = co_await page(kTicketsOfEvent, kCountTicketsOfEvent, std::move(event_id), limit, offset);
  co_return p;
}

asio::awaitable<core::Listing<std::string>> Repository::orders_of_event(std::string event_id,
                                                                        std::int64_t limit,
                                                                        std::int64_t offset) {
  auto p = co_await page(kOrdersOfEvent, kCountOrdersOfEvent, std::move(event_id), limit, offset);
  co_return p;
}

asio::awaitable<std::string> Repository::event_stats(std::string event_id) {
  Params params(event_id);
  auto r = co_await pool_.query(kEventStats, params);
  co_return r.empty() ? std::string() : r.string(0, 0);
}

asio::awaitable<CheckInResult> Repository::check_in(std::string ticket_id, std::string code,
                                                    std::string event_id, bool signature_ok) {
  Params params(ticket_id, code, event_id, signature_ok);
  auto r = co_await pool_.query(kCheckIn, params);
  CheckInResult out;
  out.outcome = core::outcome_of(r.text(0, 0), kCheckIns, "check_in_ticket()");
  out.ticket_json = r.string(0, 1);
  out.checked_in_at = r.string(0, 2);
  out.status = r.string(0, 3);
  co_return out;
}

}  // namespace ticketd::tickets
