#include "modules/reservations/repository.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value_to.hpp>
#include <stdexcept>

#include "core/outcome.hpp"
#include "infra/pg/array.hpp"
#include "infra/pg/errors.hpp"

namespace ticketd::reservations {

namespace asio = boost::asio;
namespace json = boost::json;
using infra::pg::ArrayLiteral;
using infra::pg::Params;
using infra::pg::Statement;

namespace {

// What reserve() answers (o_outcome), and what it raises with SQLSTATE TD409.
constexpr core::OutcomeTable<Outcome, 9> kOutcomes{
    {{"CREATED", Outcome::kCreated},
     {"REPLAYED", Outcome::kReplayed},
     {"KEY_REUSED", Outcome::kKeyReused},
     {"EVENT_NOT_FOUND", Outcome::kEventNotFound},
     {"NOT_ON_SALE", Outcome::kNotOnSale},
     {"ACTIVE_LIMIT", Outcome::kActiveLimit},
     {"SEAT_UNAVAILABLE", Outcome::kSeatUnavailable},
     {"SOLD_OUT", Outcome::kSoldOut},
     {"UNKNOWN_TICKET_TYPE", Outcome::kUnknownTicketType}}};
constexpr core::OutcomeTable<Outcome, 2> kRaisedOutcomes{
    {{"SEAT_UNAVAILABLE", Outcome::kSeatUnavailable}, {"SOLD_OUT", Outcome::kSoldOut}}};

constexpr Statement kReserve{"reservation_reserve", R"sql(
SELECT o_outcome, o_reservation::text, o_seats::text, o_detail::text, o_reservation->>'id'
FROM reserve($1, $2, $3, $4, $5::uuid[], $6::uuid[], $7::int[], $8, $9, $10, $11))sql"};

constexpr Statement kReserveQuietly{"reservation_reserve_quietly", R"sql(
SELECT o_outcome, o_reservation::text, o_seats::text, o_detail::text, o_reservation->>'id'
FROM reserve_quietly($1, $2, $3, $4, $5::uuid[], $6::uuid[], $7::int[], $8, $9, $10, $11))sql"};

constexpr Statement kReserveBatch{"reservation_reserve_batch", R"sql(
SELECT o_outcome, o_reservation::text, o_seats::text, o_detail::text, o_reservation->>'id'
FROM reserve_batch($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::int[],
                   $7::uuid[], $8::int[], $9::uuid[], $10::int[], $11, $12, $13, $14)
ORDER BY o_request)sql"};

constexpr Statement kFind{"reservation_find", R"sql(
SELECT user_id, org_id, event_id, status, reservation_json(id)::text FROM reservations
WHERE id = $1)sql"};

constexpr Statement kListForUser{"reservation_list_for_user", R"sql(
SELECT reservation_json(id)::text, count(*) OVER () FROM reservations
WHERE user_id = $1
ORDER BY created_at DESC, id
LIMIT $2 OFFSET $3)sql"};

constexpr Statement kCountForUser{"reservation_count_for_user",
                                  "SELECT count(*) FROM reservations WHERE user_id = $1"};

constexpr Statement kListForEvent{"reservation_list_for_event", R"sql(
SELECT reservation_json(id)::text, count(*) OVER () FROM reservations
WHERE event_id = $1 AND ($2::text IS NULL OR status = $2)
ORDER BY created_at DESC, id
LIMIT $3 OFFSET $4)sql"};

constexpr Statement kCountForEvent{"reservation_count_for_event", R"sql(
SELECT count(*) FROM reservations WHERE event_id = $1 AND ($2::text IS NULL OR status = $2))sql"};

constexpr core::OutcomeTable<CancelOutcome, 4> kCancelOutcomes{
    {{"CANCELLED", CancelOutcome::kCancelled},
     {"ALREADY_CANCELLED", CancelOutcome::kAlreadyCancelled},
     {"NOT_ACTIVE", CancelOutcome::kNotActive},
     {"NOT_FOUND", CancelOutcome::kNotFound}}};

constexpr Statement kCancel{"reservation_cancel", R"sql(
SELECT v->>'outcome', coalesce((v->'reservation')::text, ''),
       coalesce(v->'reservation'->>'status', ''), coalesce(v->'seats', '[]')::text
FROM cancel_reservation($1, $2, $3::jsonb) v)sql"};

constexpr Statement kExpire{"reservation_expire", "SELECT expire_reservations($1, $2)::text"};
// The first entry of the partial index on ACTIVE holds' expiry.
constexpr Statement kExpiryLag{"reservation_expiry_lag", R"sql(
SELECT coalesce(extract(epoch FROM now() - min(expires_at)), 0)::float8
  FROM reservations WHERE status = 'ACTIVE' AND expires_at < now())sql"};

// One answer of reserve() or reserve_batch(): outcome, reservation, seats, detail, id.
ReserveResult read_answer(const infra::pg::Result& r, int row, const char* function) {
  ReserveResult out;
  out.outcome = core::outcome_of(r.text(row, 0), kOutcomes, function);
  out.reservation = r.string(row, 1);
  out.seats = r.string(row, 2);
  if (!r.is_null(row, 3)) out.detail = json::parse(r.text(row, 3));
  out.reservation_id = r.string(row, 4);
  return out;
}

std::string id_array(const std::vector<std::string>& ids) {
  ArrayLiteral a;
  for (const auto& id : ids) a.add(id);
  return std::move(a).str();
}

}  // namespace

asio::awaitable<ReserveResult> Repository::reserve(ReserveInput in) {
  ArrayLiteral types, quantities;
  for (const auto& item : in.items) {
    types.add(item.ticket_type_id);
    quantities.add(item.quantity);
  }
  Params params(in.user_id, in.event_id, in.idempotency_key, in.request_hash, id_array(in.seat_ids),
                std::move(types).str(), std::move(quantities).str(), limits_.ttl_seconds,
                limits_.max_active_per_user_event,
                static_cast<std::int64_t>(limits_.lock_timeout.count()), in.correlation_id);
  ReserveResult out;
  std::optional<infra::pg::DbError> refused;
  try {
    auto r =
        co_await pool_.query(wake_outbox_ ? kReserveQuietly : kReserve, params, limits_.pool_wait);
    out = read_answer(r, 0, "reserve()");
    if (out.outcome == Outcome::kCreated && wake_outbox_) {
      wake_outbox_();  // committed: the reservation.created row is due
    }
    co_return out;
  } catch (const infra::pg::DbError& e) {
    // The function raises the outcomes that must roll its writes back (TD409); a lock wait past
    // the limit (55P03) or a deadlock with another multi-seat request (40P01) aborts it.
    if (e.sqlstate() != "TD409" && !e.is_lock_timeout() && !e.is_retryable()) throw;
    refused = e;
  }
  if (refused->sqlstate() != "TD409") {
    out.outcome = Outcome::kLockTimeout;
    co_return out;
  }
  out.detail = json::parse(refused->primary());
  out.outcome =
      core::outcome_of(out.detail.at("outcome").as_string(), kRaisedOutcomes, "reserve()");
  co_return out;
}

asio::awaitable<std::vector<std::optional<ReserveResult>>> Repository::reserve_batch(
    const std::vector<ReserveInput>& batch) {
  ArrayLiteral users, events, keys, hashes, correlations, seat_counts, seats, ga_counts, types,
      quantities;
  for (const auto& in : batch) {
    users.add(in.user_id);
    events.add(in.event_id);
    keys.add(in.idempotency_key);
    hashes.add(in.request_hash);
    correlations.add(in.correlation_id);
    seat_counts.add(static_cast<std::int64_t>(in.seat_ids.size()));
    for (const auto& seat : in.seat_ids) seats.add(seat);
    ga_counts.add(static_cast<std::int64_t>(in.items.size()));
    for (const auto& item : in.items) {
      types.add(item.ticket_type_id);
      quantities.add(item.quantity);
    }
  }
  Params params(
      std::move(users).str(), std::move(events).str(), std::move(keys).str(),
      std::move(hashes).str(), std::move(correlations).str(), std::move(seat_counts).str(),
      std::move(seats).str(), std::move(ga_counts).str(), std::move(types).str(),
      std::move(quantities).str(), limits_.ttl_seconds, limits_.max_active_per_user_event,
      static_cast<std::int64_t>(limits_.lock_timeout.count()), !static_cast<bool>(wake_outbox_));
  auto r = co_await pool_.query(kReserveBatch, params, limits_.pool_wait);
  if (r.rows() != static_cast<int>(batch.size())) {
    throw std::logic_error("reserve_batch() answered " + std::to_string(r.rows()) + " rows for " +
                           std::to_string(batch.size()) + " requests");
  }
  std::vector<std::optional<ReserveResult>> out(batch.size());
  bool created = false;
  for (int i = 0; i < r.rows(); ++i) {
    if (r.text(i, 0) == "DEFERRED") continue;
    const ReserveResult& one =
        out[static_cast<std::size_t>(i)].emplace(read_answer(r, i, "reserve_batch()"));
    created = created || one.outcome == Outcome::kCreated;
  }
  if (created && wake_outbox_) wake_outbox_();  // committed: reservation.created rows are due
  co_return out;
}

asio::awaitable<std::optional<Found>> Repository::find(std::string id) {
  Params params(id);
  auto r = co_await pool_.query(kFind, params);
  if (r.empty()) co_return std::nullopt;
  co_return Found{r.string(0, 0), r.string(0, 1), r.string(0, 2), r.string(0, 3), r.string(0, 4)};
}

asio::awaitable<core::Listing<std::string>> Repository::list_for_user(std::string user_id,
                                                                      std::int64_t limit,
                                                                      std::int64_t offset) {
  Params params(user_id, limit, offset);
  Params count_params(user_id);
  auto page =
      co_await pool_.rendered_page(kListForUser, params, offset, kCountForUser, count_params);
  co_return page;
}

asio::awaitable<core::Listing<std::string>> Repository::list_for_event(
    std::string event_id, std::optional<std::string> status, std::int64_t limit,
    std::int64_t offset) {
  Params params(event_id, status, limit, offset);
  Params count_params(event_id, status);
  auto page =
      co_await pool_.rendered_page(kListForEvent, params, offset, kCountForEvent, count_params);
  co_return page;
}

asio::awaitable<Cancelled> Repository::cancel(std::string id, std::string correlation_id,
                                              std::string actor_json) {
  Params params(id, correlation_id, actor_json);
  auto r = co_await pool_.query(kCancel, params);
  Cancelled out;
  out.outcome = core::outcome_of(r.text(0, 0), kCancelOutcomes, "cancel_reservation()");
  out.reservation = r.string(0, 1);
  out.status = r.string(0, 2);
  out.released_seats = json::value_to<std::vector<std::string>>(json::parse(r.text(0, 3)));
  co_return out;
}

asio::awaitable<std::vector<Expired>> Repository::expire(int batch, std::string correlation_id) {
  Params params(batch, correlation_id);
  auto r = co_await pool_.query(kExpire, params);
  const auto v = boost::json::parse(r.text(0, 0));
  std::vector<Expired> out;
  for (const auto& x : v.as_array()) {
    const auto& o = x.as_object();
    out.push_back(Expired{std::string(o.at("reservationId").as_string()),
                          std::string(o.at("eventId").as_string()),
                          json::value_to<std::vector<std::string>>(o.at("seats"))});
  }
  co_return out;
}

asio::awaitable<double> Repository::expiry_lag_seconds() {
  const Params none;
  auto r = co_await pool_.query(kExpiryLag, none);
  co_return r.float64(0, 0);
}

}  // namespace ticketd::reservations
