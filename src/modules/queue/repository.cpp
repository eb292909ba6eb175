#include "modules/queue/repository.hpp"

namespace ticketd::queue {

namespace asio = boost::asio;
using infra::pg::Params;
using infra::pg::Statement;

namespace {

// EXISTS, not counts: "anything left?" stops at the first sellable seat.
constexpr Statement kState{"queue_event_state", R"sql(
SELECT e.status, e.queue_mode, e.queue_admit_per_second, e.queue_auto_threshold_per_second,
       coalesce((extract(epoch FROM e.sales_start_at) * 1000)::bigint, 0),
       EXISTS (SELECT 1 FROM event_seats s
                WHERE s.event_id = e.id AND s.status = 'AVAILABLE' AND s.ticket_type_id IS NOT NULL)
       OR EXISTS (SELECT 1 FROM event_ticket_type_slots t
                   WHERE t.event_id = e.id AND t.reserved + t.sold < t.capacity)
FROM events e WHERE e.id = $1)sql"};

}  // namespace

asio::awaitable<std::optional<EventState>> Repository::state(std::string event_id) {
  Params params(event_id);
  auto r = co_await pool_.query(kState, params);
  if (r.empty()) co_return std::nullopt;
  EventState s;
  s.status = r.string(0, 0);
  s.mode = r.string(0, 1);
  s.admit_per_second = r.int64(0, 2);
  s.auto_threshold_per_second = r.int64(0, 3);
  s.sales_start_ms = r.int64(0, 4);
  s.sellable = r.boolean(0, 5);
  co_return s;
}

}  // namespace ticketd::queue
