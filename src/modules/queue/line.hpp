#pragma once
// The line itself, in Redis (shared by every instance, on Redis's clock): who waits for an event
// in which order, how many have been admitted, and whether an AUTO queue is running. Each call is
// one script run (EVALSHA). Losing it loses places in line, never a seat: seats are decided by
// PostgreSQL, and admission tokens are checked without Redis.
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <memory>
#include <string>

#include "infra/redis/client.hpp"
#include "infra/redis/script.hpp"
#include "modules/queue/model.hpp"

namespace ticketd::queue {

// One buyer's standing after a join or a look.
struct Standing {
  bool running = true;          // false: an AUTO queue that is not running (nobody was added)
  std::int64_t rank = 0;        // 1-based place in line (0: not in line)
  std::int64_t admitted = 0;    // how many of the line have been admitted so far
  std::int64_t expires_ms = 0;  // admitted: until when (Unix ms), the same until it lapses
  std::int64_t now_ms = 0;      // Redis's clock
};

class Line {
 public:
  explicit Line(std::shared_ptr<infra::redis::Client> redis);

  // Joins `user_id` to the event's line (or finds the place it has) after admitting whoever is
  // due: `admit_per_second` since the last call while the sale is open and something is left to
  // sell. Buyers who join before the sale opens get a random place among themselves; after, the
  // next place. An admitted buyer's pass lasts `pass_ms` from the admission (renewed once it
  // lapsed). Throws InfraError (REDIS_UNAVAILABLE) when Redis cannot answer.
  boost::asio::awaitable<Standing> join(std::string event_id, std::string user_id, EventState state,
                                        std::int64_t pass_ms);
  // The buyer's standing without joining (rank 0 when not in line).
  boost::asio::awaitable<Standing> look(std::string event_id, std::string user_id);
  // Counts one reserve attempt for an AUTO event and says whether its queue runs now: on above
  // `threshold_per_second` attempts in a second, off again once nobody waits and no second was
  // above it for 5 s (so it does not flap at the threshold).
  boost::asio::awaitable<bool> attempt(std::string event_id, std::int64_t threshold_per_second);

 private:
  std::shared_ptr<infra::redis::Client> redis_;
  infra::redis::Script script_;
};

}  // namespace ticketd::queue
