#include "modules/events/service.hpp"

#include <algorithm>
#include <chrono>

#include "core/errors.hpp"
#include "modules/iam/policy.hpp"

namespace ticketd::events {

namespace asio = boost::asio;
using core::ApiError;
using core::ErrorKind;
using iam::Decision;
using iam::OrgAction;

namespace {

ApiError cancelled() {
  return ApiError(ErrorKind::kConflict, "EVENT_CANCELLED", "The event is cancelled");
}

std::vector<core::FieldError> positions(const std::vector<std::size_t>& at, std::string_view field,
                                        std::string_view code, std::string_view message) {
  std::vector<core::FieldError> out;
  out.reserve(at.size());
  for (auto i : at) {
    out.push_back({std::string(code), std::string(field) + "[" + std::to_string(i) + "]",
                   std::string(message)});
  }
  return out;
}

[[noreturn]] void throw_unknown(const Unknown& u) {
  auto errors =
      positions(u.sections, "sectionIds", "UNKNOWN_SECTION", "not a section of the event's venue");
  auto rows = positions(u.rows, "rowIds", "UNKNOWN_ROW", "not a row of the event's venue");
  auto seats = positions(u.seats, "seatIds", "UNKNOWN_SEAT", "not a seat of this event");
  errors.insert(errors.end(), rows.begin(), rows.end());
  errors.insert(errors.end(), seats.begin(), seats.end());
  const auto code = !u.sections.empty() ? "UNKNOWN_SECTION"
                    : !u.rows.empty()   ? "UNKNOWN_ROW"
                                        : "UNKNOWN_SEAT";
  throw ApiError(ErrorKind::kUnprocessable, code, "Some ids are not part of this event",
                 std::move(errors));
}

// Turns a ticket-type write that did not happen into its answer; `missing` names what a
// kNotFound refers to.
void check_write(const TicketTypeWrite& write, std::string_view missing) {
  switch (write.outcome) {
    case TicketTypeWrite::kOk:
      return;
    case TicketTypeWrite::kUnknownIds:
      throw_unknown(write.unknown);
    case TicketTypeWrite::kCodeTaken:
      throw ApiError(ErrorKind::kConflict, "TICKET_TYPE_CODE_TAKEN",
                     "Another ticket type of this event has that code",
                     {{"TICKET_TYPE_CODE_TAKEN", "code", "already used in this event"}});
    case TicketTypeWrite::kBelowHeld:
      throw ApiError(ErrorKind::kConflict, "CAPACITY_BELOW_HELD",
                     "The capacity cannot go below the units already reserved or sold",
                     {{"CAPACITY_BELOW_HELD", "totalCapacity", "below reserved + sold"}});
    case TicketTypeWrite::kCancelled:
      throw cancelled();
    case TicketTypeWrite::kNotFound:
      throw core::not_found(missing);
  }
}

bool may_read(const core::Principal* caller, const Event& e) {
  if (e.public_visible()) return true;
  return caller != nullptr && iam::decide(*caller, e.org_id, OrgAction::kRead) == Decision::kAllow;
}

}  // namespace

asio::awaitable<std::shared_ptr<const Snapshot>> Service::readable(const core::Principal* caller,
                                                                   std::string event_id) {
  auto snapshot = co_await cache_.get(std::move(event_id));
  if (!snapshot || !may_read(caller, snapshot->event())) throw core::not_found("Event");
  co_return snapshot;
}

asio::awaitable<Event> Service::writable(const core::Principal& caller, std::string event_id) {
  auto event = co_await repo_.find(std::move(event_id));
  if (!event) throw core::not_found("Event");
  const auto decision = iam::decide(caller, event->org_id, OrgAction::kWrite);
  if (decision == Decision::kAllow) co_return std::move(*event);
  // A published event is visible to everyone: changing it is forbidden, not hidden.
  if (decision == Decision::kForbidden || event->public_visible()) {
    throw ApiError(ErrorKind::kForbidden, "FORBIDDEN", "Not allowed to change this event");
  }
  throw core::not_found("Event");
}

asio::awaitable<void> Service::announce(std::string event_id, std::string type,
                                        std::string seats_json, bool invalidate) {
  if (invalidate) cache_.invalidate(event_id);
  std::string payload = seat_update(event_id, type, {}, seats_json.empty() ? "[]" : seats_json);
  // Awaited: once the writer has its answer, other instances have been told (Redis pushes to
  // subscribers before it replies to PUBLISH).
  co_await hub_.publish(std::move(event_id), std::move(payload));
}

std::string Service::seat_statuses(const std::vector<std::string>& seat_ids,
                                   std::string_view status) {
  std::string out = "[";
  for (const auto& id : seat_ids) {
    if (out.size() > 1) out += ',';
    out += R"({"id":")";
    out += id;
    out += R"(","status":")";
    out += status;
    out += R"(","reservedUntil":null})";
  }
  out += ']';
  return out;
}

std::string Service::seat_update(const std::string& event_id, std::string_view type,
                                 std::string_view reservation_id,
                                 std::string_view seats_json) const {
  // The seat.updated message (README, "Live seat maps (SSE)"); `version` orders an event's messages
  // (milliseconds of the change).
  const auto version = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
  std::string payload = R"({"eventId":")" + event_id + R"(","version":)" + std::to_string(version) +
                        R"(,"type":")" + std::string(type) + R"(","reservationId":)";
  // reservationId is null for changes no reservation made (refunds).
  if (reservation_id.empty()) {
    payload += "null";
  } else {
    payload += '"';
    payload += reservation_id;
    payload += '"';
  }
  payload += R"(,"origin":")" + hub_.instance_id() + R"(","seats":)";
  payload += seats_json;
  payload += '}';
  return payload;
}

asio::awaitable<void> Service::seats_changed(std::string event_id, std::string type,
                                             std::string reservation_id, std::string seats_json) {
  cache_.invalidate(event_id);
  std::string payload = seat_update(event_id, type, reservation_id, seats_json);
  co_await hub_.publish(std::move(event_id), std::move(payload));
}

void Service::announce_seats_changed(std::string event_id, const std::string& type,
                                     const std::string& reservation_id,
                                     const std::string& seats_json) {
  cache_.invalidate(event_id);
  std::string payload = seat_update(event_id, type, reservation_id, seats_json);
  hub_.publish_detached(std::move(event_id), std::move(payload));
}

asio::awaitable<std::shared_ptr<const Snapshot>> Service::live_snapshot(
    std::string event_id, std::chrono::steady_clock::time_point not_before) {
  auto snapshot = co_await cache_.get_since(std::move(event_id), not_before);
  co_return snapshot;
}

asio::awaitable<Event> Service::staff_view(const core::Principal& caller, std::string event_id) {
  auto event = co_await repo_.find(std::move(event_id));
  if (!event || iam::decide(caller, event->org_id, OrgAction::kRead) != Decision::kAllow) {
    throw core::not_found("Event");
  }
  co_return std::move(*event);
}

asio::awaitable<Event> Service::create(const core::Principal& caller, NewEvent e,
                                       core::Actor actor) {
  iam::authorize(caller, e.org_id, OrgAction::kWrite, "Organization");
  auto created = co_await repo_.create(std::move(e), std::move(actor));
  if (!created) {
    throw ApiError(ErrorKind::kUnprocessable, "UNKNOWN_VENUE",
                   "The venue does not exist in this organization",
                   {{"UNKNOWN_VENUE", "venueId", "no such venue in this organization"}});
  }
  co_return std::move(*created);
}

asio::awaitable<core::Listing<Event>> Service::list(const core::Principal* caller, EventQuery q) {
  EventFilter f;
  f.org_id = std::move(q.org_id);
  f.from = std::move(q.from);
  f.to = std::move(q.to);
  f.q = std::move(q.q);
  f.status = std::move(q.status);
  f.limit = q.limit;
  f.offset = q.offset;
  if (caller != nullptr) {
    f.all_orgs = caller->is_super_admin();
    for (const auto& [org, role] : caller->memberships) f.member_orgs.push_back(org);
    if (caller->api_key_org_id) f.member_orgs.push_back(*caller->api_key_org_id);
  }
  auto page = co_await repo_.list(std::move(f));
  co_return page;
}

asio::awaitable<std::shared_ptr<const Rendered>> Service::details(const core::Principal* caller,
                                                                  std::string event_id) {
  auto snapshot = co_await readable(caller, std::move(event_id));
  co_return snapshot->details();
}

asio::awaitable<Event> Service::patch(const core::Principal& caller, std::string event_id,
                                      EventPatch p, std::vector<std::string> changed,
                                      core::Actor actor) {
  co_await writable(caller, event_id);
  auto patched = co_await repo_.patch(event_id, std::move(p), std::move(changed), std::move(actor));
  auto& [outcome, event] = patched;
  switch (outcome) {
    case PatchOutcome::kOk:
      break;
    case PatchOutcome::kNotFound:
      throw core::not_found("Event");
    case PatchOutcome::kInvalidTransition:
      throw ApiError(ErrorKind::kConflict, "INVALID_TRANSITION",
                     "That status change is not allowed (DRAFT → PUBLISHED | CANCELLED, "
                     "PUBLISHED → CANCELLED)",
                     {{"INVALID_TRANSITION", "status", "not allowed from the current status"}});
    case PatchOutcome::kCancelled:
      throw cancelled();
    case PatchOutcome::kNotDraft:
      throw ApiError(ErrorKind::kConflict, "EVENT_NOT_DRAFT",
                     "The currency can only change while the event is a draft",
                     {{"EVENT_NOT_DRAFT", "currency", "the event is no longer a draft"}});
    case PatchOutcome::kEndsBeforeStart:
      throw ApiError(ErrorKind::kUnprocessable, "INVALID_WINDOW",
                     "The event would end before it starts",
                     {{"INVALID_WINDOW", "endsAt", "endsAt must be after startsAt"}});
    case PatchOutcome::kSalesWindowReversed:
      throw ApiError(ErrorKind::kUnprocessable, "INVALID_WINDOW",
                     "Sales would end before they start",
                     {{"INVALID_WINDOW", "salesEndAt", "salesEndAt must be after salesStartAt"}});
  }
  if (event_changed_) event_changed_(event_id);
  std::string type = "event.updated";
  std::string no_seats;
  co_await announce(event_id, std::move(type), std::move(no_seats));
  co_return std::move(*event);
}

asio::awaitable<std::pair<std::int64_t, std::int64_t>> Service::sync_seats(
    const core::Principal& caller, std::string event_id, core::Actor actor) {
  co_await writable(caller, event_id);
  auto added = co_await repo_.sync_seats(event_id, std::move(actor));
  if (!added) throw cancelled();
  if (*added > 0) {
    std::string type = "seats.added";
    std::string no_seats;
    co_await announce(event_id, std::move(type), std::move(no_seats));
  }
  auto event = co_await repo_.find(event_id);
  co_return std::make_pair(*added, event ? event->seat_count : 0);
}

asio::awaitable<std::vector<TicketType>> Service::ticket_types(const core::Principal* caller,
                                                               std::string event_id) {
  auto snapshot = co_await readable(caller, std::move(event_id));
  co_return snapshot->ticket_types();
}

asio::awaitable<TicketType> Service::create_ticket_type(const core::Principal& caller,
                                                        std::string event_id, NewTicketType t,
                                                        core::Actor actor) {
  auto event = co_await writable(caller, event_id);
  if (event.status == "CANCELLED") throw cancelled();
  auto write = co_await repo_.create_ticket_type(event_id, event.org_id, std::move(t),
                                                 settings_.ga_capacity_slots, std::move(actor));
  check_write(write, "Event");
  std::string type = "ticket_types.changed";
  std::string no_seats;
  co_await announce(event_id, std::move(type), std::move(no_seats));
  auto created = co_await repo_.find_ticket_type(event_id, write.id);
  if (!created) throw core::not_found("Ticket type");
  co_return std::move(*created);
}

asio::awaitable<TicketType> Service::update_ticket_type(const core::Principal& caller,
                                                        std::string event_id, std::string id,
                                                        TicketTypePatch p, core::Actor actor) {
  auto event = co_await writable(caller, event_id);
  if (event.status == "CANCELLED") throw cancelled();
  auto current = co_await repo_.find_ticket_type(event_id, id);
  if (!current) throw core::not_found("Ticket type");
  if (current->kind == "GA" && !p.seats.empty()) {
    throw ApiError(ErrorKind::kUnprocessable, "GA_HAS_NO_SEATS",
                   "A general-admission ticket type is not bound to seats",
                   {{"GA_HAS_NO_SEATS", "sectionIds", "remove sectionIds, rowIds and seatIds"}});
  }
  if (current->kind == "SEATED" && p.total_capacity) {
    throw ApiError(ErrorKind::kUnprocessable, "SEATED_HAS_NO_CAPACITY",
                   "A seated ticket type's capacity is its seats",
                   {{"SEATED_HAS_NO_CAPACITY", "totalCapacity", "only for general admission"}});
  }
  auto write = co_await repo_.update_ticket_type(event_id, id, std::move(p), std::move(actor));
  check_write(write, "Ticket type");
  std::string type = "ticket_types.changed";
  std::string no_seats;
  co_await announce(event_id, std::move(type), std::move(no_seats));
  auto updated = co_await repo_.find_ticket_type(event_id, id);
  if (!updated) throw core::not_found("Ticket type");
  co_return std::move(*updated);
}

asio::awaitable<SeatChange> Service::patch_seats(const core::Principal& caller,
                                                 std::string event_id, SeatPatch p,
                                                 core::Actor actor) {
  auto event = co_await writable(caller, event_id);
  if (event.status == "CANCELLED") throw cancelled();
  std::vector<std::string> ids = p.seat_ids;  // for the answer: each changed seat once
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  auto result = co_await repo_.patch_seats(event_id, std::move(p), std::move(actor));
  if (!result.unknown.empty()) {
    throw ApiError(
        ErrorKind::kUnprocessable, "UNKNOWN_SEAT", "Some ids are not seats of this event",
        positions(result.unknown, "seatIds", "UNKNOWN_SEAT", "not a seat of this event"));
  }
  if (result.unknown_ticket_type) {
    throw ApiError(ErrorKind::kUnprocessable, "UNKNOWN_TICKET_TYPE",
                   "ticketTypeId is not a seated ticket type of this event",
                   {{"UNKNOWN_TICKET_TYPE", "ticketTypeId", "not a seated type of this event"}});
  }
  if (!result.not_blockable.empty()) {
    throw ApiError(ErrorKind::kConflict, "SEAT_NOT_BLOCKABLE",
                   "Held or sold seats cannot be blocked or unblocked; nothing was changed",
                   positions(result.not_blockable, "seatIds", "SEAT_NOT_BLOCKABLE",
                             "the seat is held or sold"));
  }
  cache_.invalidate(event_id);
  auto snapshot = co_await cache_.get(event_id);
  SeatChange change;
  change.updated = result.updated;
  change.items = snapshot ? snapshot->items(ids) : std::string("[]");
  std::string type = "seats.updated";
  std::string seats = change.items;
  co_await announce(event_id, std::move(type), std::move(seats), false);
  co_return change;
}

asio::awaitable<std::shared_ptr<const Rendered>> Service::seats(const core::Principal* caller,
                                                                std::string event_id, SeatQuery q) {
  auto snapshot = co_await readable(caller, std::move(event_id));
  co_return snapshot->page(q);
}

}  // namespace ticketd::events
