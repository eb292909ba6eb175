#include "modules/events/model.hpp"

#include "core/json.hpp"

namespace ticketd::events {

using core::json::opt;

boost::json::object to_json(const Event& e) {
  return {{"id", e.id},
          {"orgId", e.org_id},
          {"venueId", e.venue_id},
          {"title", e.title},
          {"description", opt(e.description)},
          {"status", e.status},
          {"startsAt", e.starts_at},
          {"endsAt", opt(e.ends_at)},
          {"currency", e.currency},
          {"salesStartAt", opt(e.sales_start_at)},
          {"salesEndAt", opt(e.sales_end_at)},
          {"publishedAt", opt(e.published_at)},
          {"cancelledAt", opt(e.cancelled_at)},
          {"createdAt", e.created_at},
          {"updatedAt", e.updated_at},
          {"seatCount", e.seat_count},
          {"inventoryVersion", e.inventory_version},
          {"queueMode", e.queue.mode},
          {"queueAdmitPerSecond", e.queue.admit_per_second},
          {"queueAutoThresholdPerSecond", e.queue.auto_threshold_per_second}};
}

boost::json::object to_json(const Counts& c) {
  return {{"total", c.total},
          {"available", c.available},
          {"reserved", c.reserved},
          {"sold", c.sold},
          {"blocked", c.blocked}};
}

boost::json::object to_json(const TicketType& t) {
  return {{"id", t.id},
          {"eventId", t.event_id},
          {"name", t.name},
          {"code", opt(t.code)},
          {"kind", t.kind},
          {"priceCents", t.price_cents},
          {"feesCents", t.fees_cents},
          {"totalCapacity", opt(t.total_capacity)},
          {"seatCount",
           t.kind == "SEATED" ? boost::json::value(t.counts.total) : boost::json::value(nullptr)},
          {"availability", to_json(t.counts)},
          {"createdAt", t.created_at},
          {"updatedAt", t.updated_at}};
}

}  // namespace ticketd::events
