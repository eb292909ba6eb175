#pragma once
// Venue rules: layouts are created and extended by staff of the owning organization and read
// by its members; every call authorizes through iam::authorize first.
#include <boost/asio/awaitable.hpp>
#include <string>
#include <vector>

#include "core/principal.hpp"
#include "modules/venues/layout.hpp"
#include "modules/venues/model.hpp"
#include "modules/venues/repository.hpp"

namespace ticketd::venues {

class Service {
 public:
  // `max_seats`: VENUE_MAX_SEATS, the size a venue may reach by appending sections too.
  explicit Service(Repository& repo, std::size_t max_seats = 100'000)
      : repo_(repo), max_seats_(max_seats) {}

  // Checks run before a large body is even read: 404/403 as create() and add_sections() would.
  void authorize_create(const core::Principal& caller, std::string_view org_id) const;
  boost::asio::awaitable<void> authorize_add_sections(const core::Principal& caller,
                                                      std::string venue_id);

  boost::asio::awaitable<Venue> create(const core::Principal& caller, std::string org_id,
                                       NewVenue venue, Layout layout, core::Actor actor);
  boost::asio::awaitable<Venue> add_sections(const core::Principal& caller, std::string venue_id,
                                             Layout layout, core::Actor actor);
  boost::asio::awaitable<core::Listing<Venue>> list(const core::Principal& caller,
                                                    std::string org_id, std::int64_t limit,
                                                    std::int64_t offset);
  boost::asio::awaitable<VenueLayout> get(const core::Principal& caller, std::string venue_id);

  // For other modules (events): the venue when it exists and belongs to `org_id`.
  boost::asio::awaitable<std::optional<Venue>> find_in_org(std::string venue_id,
                                                           std::string org_id);

 private:
  boost::asio::awaitable<Venue> visible(const core::Principal& caller, std::string venue_id,
                                        bool write);
  Repository& repo_;
  std::size_t max_seats_;
};

}  // namespace ticketd::venues
