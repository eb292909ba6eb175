#include "infra/outbox/relay.hpp"

#include <algorithm>

#include "infra/pg/array.hpp"

namespace ticketd::infra::outbox {

namespace asio = boost::asio;

namespace {

// Longest last_error kept per row.
constexpr int kMaxErrorChars = 1000;

constexpr pg::Statement kClaim{"outbox_relay_claim", R"sql(
UPDATE outbox_events
   SET lease_owner = $1, lease_until = now() + $2::bigint * interval '1 millisecond'
 WHERE id IN (SELECT id FROM outbox_events
               WHERE status = 'PENDING' AND next_attempt_at <= now()
                 AND (lease_until IS NULL OR lease_until < now())
               ORDER BY next_attempt_at, seq
               LIMIT $3
               FOR UPDATE SKIP LOCKED)
RETURNING id::text, seq, topic, message_key, payload::text, headers::text, correlation_id,
          event_type, attempts)sql"};

constexpr pg::Statement kRenew{"outbox_relay_renew", R"sql(
UPDATE outbox_events SET lease_until = now() + $3::bigint * interval '1 millisecond'
 WHERE id = ANY($2::uuid[]) AND lease_owner = $1 AND status = 'PENDING')sql"};

constexpr pg::Statement kMarkSent{"outbox_relay_mark_sent", R"sql(
UPDATE outbox_events
   SET status = 'SENT', sent_at = now(), lease_owner = NULL, lease_until = NULL
 WHERE id = ANY($2::uuid[]) AND lease_owner = $1 AND status = 'PENDING'
RETURNING id::text, topic, extract(epoch FROM clock_timestamp() - created_at)::float8)sql"};

constexpr pg::Statement kMarkFailed{"outbox_relay_mark_failed", R"sql(
UPDATE outbox_events o
   SET attempts = o.attempts + 1,
       status = CASE WHEN o.attempts + 1 >= $2 THEN 'FAILED' ELSE 'PENDING' END,
       next_attempt_at = now() + f.retry_ms * interval '1 millisecond',
       last_error = left(f.error, $6),
       lease_owner = NULL, lease_until = NULL
  FROM unnest($3::uuid[], $4::bigint[], $5::text[]) AS f(id, retry_ms, error)
 WHERE o.id = f.id AND o.lease_owner = $1 AND o.status = 'PENDING'
RETURNING o.id::text, o.topic, o.status = 'FAILED', o.attempts)sql"};

// ORDER BY the partial index's key, so the plan is that index however stale the statistics.
constexpr pg::Statement kBacklog{"outbox_relay_backlog", R"sql(
SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8
  FROM (SELECT created_at FROM outbox_events WHERE status = 'PENDING'
         ORDER BY next_attempt_at, seq LIMIT $1) p)sql"};

constexpr pg::Statement kPurge{"outbox_relay_purge", R"sql(
DELETE FROM outbox_events
 WHERE id IN (SELECT id FROM outbox_events
               WHERE status = 'SENT' AND sent_at < now() - $1::bigint * interval '1 hour'
               LIMIT $2))sql"};

}  // namespace

asio::awaitable<std::vector<ClaimedRow>> Relay::claim(std::string owner,
                                                      std::chrono::milliseconds lease, int limit) {
  const pg::Params params(owner, static_cast<std::int64_t>(lease.count()), limit);
  const pg::Result r = co_await pool_.query(kClaim, params);
  std::vector<ClaimedRow> rows;
  rows.reserve(static_cast<std::size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) {
    ClaimedRow row;
    row.id = r.string(i, 0);
    row.seq = r.int64(i, 1);
    row.topic = r.string(i, 2);
    row.key = r.string(i, 3);
    row.payload = r.string(i, 4);
    row.headers = r.opt_string(i, 5);
    row.correlation_id = r.opt_string(i, 6);
    row.event_type = r.string(i, 7);
    row.attempts = static_cast<int>(r.int64(i, 8));
    rows.push_back(std::move(row));
  }
  // RETURNING follows no order; Kafka should see each key's events in the order written.
  std::sort(rows.begin(), rows.end(),
            [](const ClaimedRow& a, const ClaimedRow& b) { return a.seq < b.seq; });
  co_return rows;
}

asio::awaitable<std::int64_t> Relay::renew(std::string owner, std::vector<std::string> ids,
                                           std::chrono::milliseconds lease) {
  if (ids.empty()) co_return 0;
  pg::ArrayLiteral array;
  for (const auto& id : ids) array.add(id);
  const pg::Params params(owner, std::move(array).str(), static_cast<std::int64_t>(lease.count()));
  const pg::Result r = co_await pool_.query(kRenew, params);
  co_return r.affected();
}

asio::awaitable<std::vector<SentRow>> Relay::mark_sent(std::string owner,
                                                       std::vector<std::string> ids) {
  std::vector<SentRow> out;
  if (ids.empty()) co_return out;
  pg::ArrayLiteral array;
  for (const auto& id : ids) array.add(id);
  const pg::Params params(owner, std::move(array).str());
  const pg::Result r = co_await pool_.query(kMarkSent, params);
  out.reserve(static_cast<std::size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) {
    SentRow row;
    row.id = r.string(i, 0);
    row.topic = r.string(i, 1);
    row.age_seconds = r.float64(i, 2);
    out.push_back(std::move(row));
  }
  co_return out;
}

asio::awaitable<std::vector<SettledFailure>> Relay::mark_failed(
    std::string owner, std::vector<FailedDelivery> failures, int max_attempts) {
  std::vector<SettledFailure> out;
  if (failures.empty()) co_return out;
  pg::ArrayLiteral ids;
  pg::ArrayLiteral delays;
  pg::ArrayLiteral errors;
  for (const auto& f : failures) {
    ids.add(f.id);
    delays.add(static_cast<std::int64_t>(std::max<std::int64_t>(0, f.retry_in.count())));
    // Truncated here too, so a huge message does not travel to the server.
    errors.add(std::string_view(f.error).substr(0, kMaxErrorChars));
  }
  const pg::Params params(owner, max_attempts, std::move(ids).str(), std::move(delays).str(),
                          std::move(errors).str(), kMaxErrorChars);
  const pg::Result r = co_await pool_.query(kMarkFailed, params);
  out.reserve(static_cast<std::size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) {
    SettledFailure row;
    row.id = r.string(i, 0);
    row.topic = r.string(i, 1);
    row.dead = r.boolean(i, 2);
    row.attempts = static_cast<int>(r.int64(i, 3));
    out.push_back(std::move(row));
  }
  co_return out;
}

asio::awaitable<Backlog> Relay::backlog(std::int64_t cap) {
  const pg::Params params(cap);
  const pg::Result r = co_await pool_.query(kBacklog, params);
  Backlog b;
  if (r.rows() == 1) {
    b.pending = r.int64(0, 0);
    b.oldest_age_seconds = std::max(0.0, r.float64(0, 1));
  }
  co_return b;
}

asio::awaitable<std::int64_t> Relay::purge_sent(std::chrono::hours retention, int limit) {
  const pg::Params params(static_cast<std::int64_t>(retention.count()), limit);
  const pg::Result r = co_await pool_.query(kPurge, params);
  co_return r.affected();
}

}  // namespace ticketd::infra::outbox
