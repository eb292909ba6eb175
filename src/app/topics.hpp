#pragma once
// Kafka topics of SPEC §10, ensured at start-up. Consumed topics also get a `<topic>.dlq`.
#include <string>
#include <string_view>
#include <vector>

namespace ticketd::app {

inline constexpr std::string_view kDomainTopics[] = {
    "reservation.created", "reservation.expired", "reservation.cancelled",   "payment.succeeded",
    "payment.failed",      "payment.refunded",    "payment.refund_required", "ticket.issued",
    "seat.sold",           "event.created",       "event.updated",
};

inline constexpr std::string_view kConsumedTopics[] = {"payment.succeeded"};

inline std::vector<std::string> all_topics() {
  std::vector<std::string> out(std::begin(kDomainTopics), std::end(kDomainTopics));
  for (auto t : kConsumedTopics) out.push_back(std::string(t) + ".dlq");
  return out;
}

}  // namespace ticketd::app
