#pragma once
// SQL of events, ticket types and event seats. Every change that matters to other systems
// writes its outbox row in the same transaction; every change to seats or ticket types bumps
// events.inventory_version in the same transaction (admin changes are rare, so the row lock that
// takes is harmless here; reservations do not bump it).
#include <boost/asio/awaitable.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "infra/pg/pool.hpp"
#include "modules/events/model.hpp"

namespace ticketd::events {

struct EventFilter {
  std::optional<std::string> org_id;
  std::optional<std::string> from;
  std::optional<std::string> to;
  std::optional<std::string> q;
  std::optional<std::string> status;
  std::vector<std::string> member_orgs;  // whose drafts the caller may see
  bool all_orgs = false;                 // SUPER_ADMIN
  std::int64_t limit = 20;
  std::int64_t offset = 0;
};

// Which requested ids were not found, by position in the request.
struct Unknown {
  std::vector<std::size_t> sections, rows, seats;
  bool any() const noexcept { return !sections.empty() || !rows.empty() || !seats.empty(); }
};

// Nothing is written unless the outcome is kOk.
struct TicketTypeWrite {
  enum Outcome { kOk, kUnknownIds, kCodeTaken, kBelowHeld, kNotFound, kCancelled } outcome = kOk;
  std::string id;
  Unknown unknown;
};

enum class PatchOutcome {
  kOk,
  kNotFound,
  kInvalidTransition,
  kCancelled,
  kNotDraft,
  kEndsBeforeStart,     // the result would end before it starts
  kSalesWindowReversed  // salesEndAt not after salesStartAt
};

struct SeatPatchResult {
  std::vector<std::size_t> unknown;        // positions of ids that are not seats of the event
  std::vector<std::size_t> not_blockable;  // positions of held/sold seats a status change hit
  bool unknown_ticket_type = false;
  std::int64_t updated = 0;
};

class Repository {
 public:
  explicit Repository(infra::pg::Pool& pool) : pool_(pool) {}

  boost::asio::awaitable<std::optional<Event>> find(std::string event_id);
  // Inserts the event and its seat inventory; nullopt when the venue is not the org's.
  boost::asio::awaitable<std::optional<Event>> create(NewEvent e, core::Actor actor);
  boost::asio::awaitable<core::Listing<Event>> list(EventFilter f);
  // `changed`: the provided fields other than status (a real status change is added).
  boost::asio::awaitable<std::pair<PatchOutcome, std::optional<Event>>> patch(
      std::string event_id, EventPatch patch, std::vector<std::string> changed, core::Actor actor);
  // Adds event seats for venue seats that have none; nullopt when the event is cancelled.
  boost::asio::awaitable<std::optional<std::int64_t>> sync_seats(std::string event_id,
                                                                 core::Actor actor);

  boost::asio::awaitable<std::vector<TicketType>> ticket_types(std::string event_id);
  boost::asio::awaitable<std::optional<TicketType>> find_ticket_type(std::string event_id,
                                                                     std::string id);
  boost::asio::awaitable<TicketTypeWrite> create_ticket_type(std::string event_id,
                                                             std::string org_id, NewTicketType t,
                                                             int slots, core::Actor actor);
  boost::asio::awaitable<TicketTypeWrite> update_ticket_type(std::string event_id, std::string id,
                                                             TicketTypePatch p, core::Actor actor);

  boost::asio::awaitable<SeatPatchResult> patch_seats(std::string event_id, SeatPatch p,
                                                      core::Actor actor);

  // The seat map of an event in natural order, and the milliseconds until its first live hold
  // lapses (nullopt without live holds), read in one repeatable-read snapshot with the event.
  struct SeatMapRows {
    Event event;
    std::vector<TicketType> ticket_types;
    std::vector<Seat> seats;
    std::optional<std::int64_t> next_expiry_ms;
  };
  boost::asio::awaitable<std::optional<SeatMapRows>> load_seat_map(std::string event_id);

 private:
  infra::pg::Pool& pool_;
};

}  // namespace ticketd::events
