#include <gtest/gtest.h>

#include "modules/reservations/service.hpp"

namespace ticketd::reservations {
namespace {

ReserveRequest request(std::vector<std::string> seats, std::vector<GaItem> items,
                       std::string event = "e1") {
  ReserveRequest r;
  r.event_id = std::move(event);
  r.seat_ids = std::move(seats);
  r.items = std::move(items);
  r.idempotency_key = "ignored-by-the-hash";
  return r;
}

TEST(RequestHash, OrderDoesNotMatterContentDoes) {
  const auto a = Service::request_hash(request({"s1", "s2"}, {{"t1", 2}, {"t2", 1}}));
  EXPECT_EQ(a, Service::request_hash(request({"s2", "s1"}, {{"t2", 1}, {"t1", 2}})));
  // The same units split over two items of one type are the same request.
  EXPECT_EQ(a, Service::request_hash(request({"s1", "s2"}, {{"t1", 1}, {"t2", 1}, {"t1", 1}})));
  EXPECT_NE(a, Service::request_hash(request({"s1"}, {{"t1", 2}, {"t2", 1}})));
  EXPECT_NE(a, Service::request_hash(request({"s1", "s2"}, {{"t1", 3}, {"t2", 1}})));
  EXPECT_NE(a, Service::request_hash(request({"s1", "s2"}, {{"t1", 2}, {"t2", 1}}, "e2")));
  // Seat and type ids cannot be confused with each other.
  EXPECT_NE(Service::request_hash(request({"x"}, {})),
            Service::request_hash(request({}, {{"x", 1}})));
}

}  // namespace
}  // namespace ticketd::reservations
