#include "modules/venues/service.hpp"

#include <algorithm>

#include "core/errors.hpp"
#include "modules/iam/policy.hpp"

namespace ticketd::venues {

namespace asio = boost::asio;
using iam::OrgAction;

asio::awaitable<Venue> Service::create(const core::Principal& caller, std::string org_id,
                                       NewVenue venue, Layout layout, core::Actor actor) {
  iam::authorize(caller, org_id, OrgAction::kWrite, "Organization");
  auto created = co_await repo_.create(std::move(org_id), std::move(venue), std::move(layout),
                                       std::move(actor));
  co_return created;
}

asio::awaitable<Venue> Service::visible(const core::Principal& caller, std::string venue_id,
                                        bool write) {
  auto venue = co_await repo_.find(std::move(venue_id));
  if (!venue) throw core::not_found("Venue");
  iam::authorize(caller, venue->org_id, write ? OrgAction::kWrite : OrgAction::kRead, "Venue");
  co_return std::move(*venue);
}

void Service::authorize_create(const core::Principal& caller, std::string_view org_id) const {
  iam::authorize(caller, org_id, OrgAction::kWrite, "Organization");
}

asio::awaitable<void> Service::authorize_add_sections(const core::Principal& caller,
                                                      std::string venue_id) {
  co_await visible(caller, std::move(venue_id), true);
}

asio::awaitable<Venue> Service::add_sections(const core::Principal& caller, std::string venue_id,
                                             Layout layout, core::Actor actor) {
  const auto current = co_await visible(caller, venue_id, true);
  if (static_cast<std::size_t>(current.seat_count) + layout.seat_count > max_seats_) {
    throw core::ApiError(core::ErrorKind::kUnprocessable, "TOO_MANY_SEATS",
                         "The venue would exceed its seat limit",
                         {{"TOO_MANY_SEATS", "sections",
                           "a venue has at most " + std::to_string(max_seats_) + " seats"}});
  }
  std::vector<std::string> codes;
  for (const auto& s : layout.sections) codes.push_back(s.code);
  std::vector<std::string> taken;
  auto venue = co_await repo_.add_sections(venue_id, std::move(layout), taken, std::move(actor));
  if (!taken.empty()) {
    std::vector<core::FieldError> errors;
    for (std::size_t i = 0; i < codes.size(); ++i) {
      if (std::find(taken.begin(), taken.end(), codes[i]) == taken.end()) continue;
      errors.push_back({"DUPLICATE_SECTION_CODE", "sections[" + std::to_string(i) + "].code",
                        "section code " + codes[i] + " is already used in this venue"});
    }
    throw core::ApiError(core::ErrorKind::kUnprocessable, "DUPLICATE_SECTION_CODE",
                         "Section codes already used in this venue", std::move(errors));
  }
  if (!venue) throw core::not_found("Venue");
  co_return std::move(*venue);
}

asio::awaitable<core::Listing<Venue>> Service::list(const core::Principal& caller,
                                                    std::string org_id, std::int64_t limit,
                                                    std::int64_t offset) {
  iam::authorize(caller, org_id, OrgAction::kRead, "Organization");
  auto page = co_await repo_.list(std::move(org_id), limit, offset);
  co_return page;
}

asio::awaitable<VenueLayout> Service::get(const core::Principal& caller, std::string venue_id) {
  VenueLayout out;
  out.venue = co_await visible(caller, venue_id, false);
  out.sections = co_await repo_.sections(std::move(venue_id));
  co_return out;
}

asio::awaitable<std::optional<Venue>> Service::find_in_org(std::string venue_id,
                                                           std::string org_id) {
  auto venue = co_await repo_.find(std::move(venue_id));
  if (venue && venue->org_id != org_id) venue.reset();
  co_return venue;
}

}  // namespace ticketd::venues
