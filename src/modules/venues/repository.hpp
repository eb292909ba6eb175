#pragma once
#include <boost/asio/awaitable.hpp>
#include <optional>
#include <string>
#include <vector>

#include "infra/pg/pool.hpp"
#include "modules/venues/layout.hpp"
#include "modules/venues/model.hpp"

namespace ticketd::venues {

class Repository {
 public:
  explicit Repository(infra::pg::Pool& pool) : pool_(pool) {}

  // Venue, sections, rows and seats in one transaction, each level one bulk statement.
  boost::asio::awaitable<Venue> create(std::string org_id, NewVenue venue, Layout layout,
                                       core::Actor actor);
  // Appends sections; nullopt when the venue does not exist or when section codes are already
  // used by the venue (reported in `taken`; nothing is written then).
  boost::asio::awaitable<std::optional<Venue>> add_sections(std::string venue_id, Layout layout,
                                                            std::vector<std::string>& taken,
                                                            core::Actor actor);
  boost::asio::awaitable<std::optional<Venue>> find(std::string venue_id);
  boost::asio::awaitable<std::vector<SectionInfo>> sections(std::string venue_id);
  boost::asio::awaitable<core::Listing<Venue>> list(std::string org_id, std::int64_t limit,
                                                    std::int64_t offset);

 private:
  infra::pg::Pool& pool_;
};

}  // namespace ticketd::venues
