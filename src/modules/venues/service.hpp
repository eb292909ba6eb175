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
  explicit Service(Repository& repo) : repo_(repo) {}

  boost::asio::awaitable<Venue> create(const core::Principal& caller, std::string org_id,
                                       NewVenue venue, Layout layout, core::Actor actor);
  boost::asio::awaitable<Venue> add_sections(const core::Principal& caller, std::string venue_id,
                                             Layout layout, core::Actor actor);
  boost::asio::awaitable<std::pair<std::vector<Venue>, std::int64_t>> list(
      const core::Principal& caller, std::string org_id, std::int64_t limit, std::int64_t offset);
  boost::asio::awaitable<VenueLayout> get(const core::Principal& caller, std::string venue_id);

  // For other modules (events): the venue when it exists and belongs to `org_id`.
  boost::asio::awaitable<std::optional<Venue>> find_in_org(std::string venue_id,
                                                           std::string org_id);

 private:
  boost::asio::awaitable<Venue> visible(const core::Principal& caller, std::string venue_id,
                                        bool write);
  Repository& repo_;
};

}  // namespace ticketd::venues
