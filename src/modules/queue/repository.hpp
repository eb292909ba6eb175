#pragma once
// SQL of the waiting room: one read of an event's queue settings and whether anything is left
// to sell (the service caches it for a second per event).
#include <boost/asio/awaitable.hpp>
#include <optional>
#include <string>

#include "infra/pg/pool.hpp"
#include "modules/queue/model.hpp"

namespace ticketd::queue {

class Repository {
 public:
  explicit Repository(infra::pg::Pool& pool) : pool_(pool) {}

  // nullopt when the event does not exist.
  boost::asio::awaitable<std::optional<EventState>> state(std::string event_id);

 private:
  infra::pg::Pool& pool_;
};

}  // namespace ticketd::queue
