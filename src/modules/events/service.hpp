#pragma once
// Event rules: lifecycle, ticket types, seat administration and the cached seat-map reads.
// Writes authorize through iam::authorize and then announce the change on the event's realtime
// channel (after commit), which invalidates every instance's snapshot; reads are served from
// this instance's snapshot.
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/principal.hpp"
#include "modules/events/model.hpp"
#include "modules/events/repository.hpp"
#include "modules/events/seat_map.hpp"
#include "modules/realtime/hub.hpp"

namespace ticketd::events {

struct Settings {
  int ga_capacity_slots = 8;
};

struct EventQuery {
  std::optional<std::string> org_id;
  std::optional<std::string> from;
  std::optional<std::string> to;
  std::optional<std::string> q;
  std::optional<std::string> status;
  std::int64_t limit = 20;
  std::int64_t offset = 0;
};

struct SeatChange {
  std::int64_t updated = 0;
  std::string items;  // JSON array of the changed seats' seat-map items
};

class Service {
 public:
  Service(Repository& repo, SeatMapCache& cache, realtime::Hub& hub, Settings settings)
      : repo_(repo), cache_(cache), hub_(hub), settings_(settings) {}

  // Called with the event's id after each change to it through patch() (the waiting room drops
  // its copy of the settings). Before the first request.
  void on_event_changed(std::function<void(const std::string& event_id)> fn) {
    event_changed_ = std::move(fn);
  }

  boost::asio::awaitable<Event> create(const core::Principal& caller, NewEvent e,
                                       core::Actor actor);
  boost::asio::awaitable<core::Listing<Event>> list(const core::Principal* caller, EventQuery q);
  // The rendered event with availability and ticket types.
  boost::asio::awaitable<std::shared_ptr<const Rendered>> details(const core::Principal* caller,
                                                                  std::string event_id);
  boost::asio::awaitable<Event> patch(const core::Principal& caller, std::string event_id,
                                      EventPatch patch, std::vector<std::string> changed,
                                      core::Actor actor);
  boost::asio::awaitable<std::pair<std::int64_t, std::int64_t>> sync_seats(
      const core::Principal& caller, std::string event_id, core::Actor actor);

  boost::asio::awaitable<std::vector<TicketType>> ticket_types(const core::Principal* caller,
                                                               std::string event_id);
  boost::asio::awaitable<TicketType> create_ticket_type(const core::Principal& caller,
                                                        std::string event_id, NewTicketType t,
                                                        core::Actor actor);
  boost::asio::awaitable<TicketType> update_ticket_type(const core::Principal& caller,
                                                        std::string event_id, std::string id,
                                                        TicketTypePatch p, core::Actor actor);

  boost::asio::awaitable<SeatChange> patch_seats(const core::Principal& caller,
                                                 std::string event_id, SeatPatch p,
                                                 core::Actor actor);
  boost::asio::awaitable<std::shared_ptr<const Rendered>> seats(const core::Principal* caller,
                                                                std::string event_id, SeatQuery q);

  // For other modules, after they committed a change to an event's seats (holds, releases,
  // sales): drops this instance's snapshot and announces the change on the event's realtime
  // channel (the seat.updated payload). `seats_json`: [{id, status, reservedUntil}].
  // Never throws for Redis trouble: the change is committed whatever happens here.
  // `seats_json` is typically seat_statuses(ids, status).
  boost::asio::awaitable<void> seats_changed(std::string event_id, std::string type,
                                             std::string reservation_id, std::string seats_json);
  // The same without waiting for Redis (the reservation hot path: its 201 must not wait for the
  // announcement). This instance's snapshot is dropped before it returns; the announcements of
  // this instance leave in the order they were made.
  void announce_seats_changed(std::string event_id, const std::string& type,
                              const std::string& reservation_id, const std::string& seats_json);
  // [{id, status, reservedUntil: null}] for seats that all reached one status without a hold
  // (released, sold, refunded): the `seats` of a seat.updated message.
  static std::string seat_statuses(const std::vector<std::string>& seat_ids,
                                   std::string_view status);

  // For live seat maps: the event's snapshot read by a load that started at or after
  // `not_before` (pass the moment the realtime subscription was confirmed; a default time point
  // accepts any cached one). nullptr when the event does not exist; visibility is the caller's.
  boost::asio::awaitable<std::shared_ptr<const Snapshot>> live_snapshot(
      std::string event_id, std::chrono::steady_clock::time_point not_before);
  // The event, when the caller may read its staff data (reservations, orders): 404 otherwise.
  boost::asio::awaitable<Event> staff_view(const core::Principal& caller, std::string event_id);

 private:
  // The one writer of the realtime message (seat.updated's fields plus "origin");
  // `reservation_id` empty for changes no reservation made.
  std::string seat_update(const std::string& event_id, std::string_view type,
                          std::string_view reservation_id, std::string_view seats_json) const;
  // The snapshot of an event the caller may read (404 otherwise).
  boost::asio::awaitable<std::shared_ptr<const Snapshot>> readable(const core::Principal* caller,
                                                                   std::string event_id);
  // The event, when the caller may change it (404 invisible, 403 visible but not permitted).
  boost::asio::awaitable<Event> writable(const core::Principal& caller, std::string event_id);
  // After a committed change: drop the local snapshot (unless the caller already reloaded it)
  // and tell every instance.
  boost::asio::awaitable<void> announce(std::string event_id, std::string type,
                                        std::string seats_json, bool invalidate = true);

  Repository& repo_;
  SeatMapCache& cache_;
  realtime::Hub& hub_;
  Settings settings_;
  std::function<void(const std::string& event_id)> event_changed_;
};

}  // namespace ticketd::events
