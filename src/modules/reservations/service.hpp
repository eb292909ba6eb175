#pragma once
// Reservation rules (openapi/openapi.yaml, /reservations): holds are made by users, idempotent by
// (user, key), checked and taken by the database in one call; owners and the organization's staff
// may read and cancel them. Every committed change to seats is announced through the events module
// (cache invalidation on every instance, realtime updates).
#include <boost/asio/awaitable.hpp>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/actor.hpp"
#include "core/metrics.hpp"
#include "core/principal.hpp"
#include "modules/events/service.hpp"
#include "modules/reservations/batcher.hpp"
#include "modules/reservations/model.hpp"
#include "modules/reservations/repository.hpp"

namespace ticketd::reservations {

struct ReserveRequest {
  std::string event_id;
  std::vector<std::string> seat_ids;  // in request order
  std::vector<GaItem> items;          // in request order
  std::string idempotency_key;
  std::optional<std::string> admission_token;  // X-Admission-Token / admissionToken
};

// The flash-sale waiting room's check (modules/queue), run before a reservation reaches the
// database: throws (429 QUEUE_REQUIRED) when the event's queue runs and the user holds no valid
// admission token for it. Unset: no queue.
using AdmissionGate = std::function<boost::asio::awaitable<void>(
    std::string user_id, std::string event_id, std::optional<std::string> token)>;

struct Reserved {
  bool created = false;  // false: a replay of an earlier request with the same key
  std::string json;
};

class Service {
 public:
  // New holds go through `batcher` (group commit); everything else through `repo`.
  Service(Repository& repo, Batcher& batcher, events::Service& events,
          core::metrics::Registry& metrics);

  // Before the first request.
  void admit_with(AdmissionGate gate) { gate_ = std::move(gate); }

  boost::asio::awaitable<Reserved> reserve(const core::Principal& caller, ReserveRequest request,
                                           core::Actor actor);
  boost::asio::awaitable<std::string> get(const core::Principal& caller, std::string id);
  boost::asio::awaitable<core::Listing<std::string>> mine(const core::Principal& caller,
                                                          std::int64_t limit, std::int64_t offset);
  boost::asio::awaitable<core::Listing<std::string>> for_event(const core::Principal& caller,
                                                               std::string event_id,
                                                               std::optional<std::string> status,
                                                               std::int64_t limit,
                                                               std::int64_t offset);
  boost::asio::awaitable<std::string> cancel(const core::Principal& caller, std::string id,
                                             core::Actor actor);
  // One batch of expiries (the worker's step); returns how many reservations expired.
  boost::asio::awaitable<std::size_t> expire_batch(int batch);

  // The canonical hash of a request: the same seats and items in any order hash alike.
  static std::string request_hash(const ReserveRequest& r);

 private:
  boost::asio::awaitable<Found> visible(const core::Principal& caller, std::string id, bool write);

  Repository& repo_;
  Batcher& batcher_;
  events::Service& events_;
  AdmissionGate gate_;
  core::metrics::Family<core::metrics::Counter>& outcomes_;
  core::metrics::Histogram& latency_;
  core::metrics::Counter& expired_;
};

}  // namespace ticketd::reservations
