#pragma once
// SQL of reservations. The hot path is one call of a database function through a prepared
// statement: reserve() (sql/functions/reserve.sql; reserve_quietly() without the NOTIFY) for one
// request, reserve_batch() for a batch of them (see Batcher): one round trip either way.
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "infra/pg/pool.hpp"
#include "modules/reservations/model.hpp"

namespace ticketd::reservations {

struct Limits {
  int ttl_seconds = 600;
  int max_active_per_user_event = 1;
  std::chrono::milliseconds lock_timeout{2'000};
  // How long reserve() waits for a pooled connection before 503: serve passes the hot routes'
  // short wait (DATABASE_POOL_HOT_TIMEOUT_MS).
  std::chrono::milliseconds pool_wait{2'000};
};

class Repository {
 public:
  // `wake_outbox` set: reservations commit without the outbox NOTIFY (reserve_quietly, migration
  // 0012: NOTIFY serializes committers on a database-wide lock) and it is called after each
  // commit that wrote an outbox row instead. For a process that runs its own outbox publisher.
  Repository(infra::pg::Pool& pool, Limits limits, std::function<void()> wake_outbox = {})
      : pool_(pool), limits_(limits), wake_outbox_(std::move(wake_outbox)) {}

  boost::asio::awaitable<ReserveResult> reserve(ReserveInput in);
  // Many requests in one transaction (sql/functions/reserve_batch.sql), decided in order: one
  // answer per request, or nullopt for a request the batch deferred to reserve() (it would have
  // had to wait on rows another transaction holds). A DbError rolls the whole batch back.
  boost::asio::awaitable<std::vector<std::optional<ReserveResult>>> reserve_batch(
      const std::vector<ReserveInput>& batch);
  boost::asio::awaitable<std::optional<Found>> find(std::string id);
  // JSON objects of the page and the total.
  boost::asio::awaitable<core::Listing<std::string>> list_for_user(std::string user_id,
                                                                   std::int64_t limit,
                                                                   std::int64_t offset);
  boost::asio::awaitable<core::Listing<std::string>> list_for_event(
      std::string event_id, std::optional<std::string> status, std::int64_t limit,
      std::int64_t offset);
  boost::asio::awaitable<Cancelled> cancel(std::string id, std::string correlation_id,
                                           std::string actor_json);
  // One batch of the expiry worker (see expire_reservations in migration 0007).
  boost::asio::awaitable<std::vector<Expired>> expire(int batch, std::string correlation_id);
  // How long the oldest ACTIVE hold has been past its expiry, in seconds by the database clock
  // (0 when none is): how far the expiry workers of all instances lag behind.
  boost::asio::awaitable<double> expiry_lag_seconds();

 private:
  infra::pg::Pool& pool_;
  Limits limits_;
  std::function<void()> wake_outbox_;
};

}  // namespace ticketd::reservations
