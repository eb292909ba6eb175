#include "http/shedding.hpp"

#include <string>

namespace ticketd::http {

Shedder::Slot& Shedder::Slot::operator=(Slot&& other) noexcept {
  if (this != &other) {
    release();
    owner_ = std::exchange(other.owner_, nullptr);
  }
  return *this;
}

void Shedder::Slot::release() noexcept {
  if (owner_ == nullptr) return;
  owner_->in_flight.fetch_sub(1, std::memory_order_acq_rel);
  owner_->in_flight_gauge->dec();
  owner_ = nullptr;
}

Shedder::Shedder(const Limits& limits, core::metrics::Registry& metrics) {
  auto& shed = metrics.counter("ticketd_shed_total",
                               "Requests answered 503 because their class had too many in flight",
                               {"class"});
  auto& limit_gauge = metrics.gauge(
      "ticketd_shed_limit", "Requests in flight allowed per class (0 = unbounded)", {"class"});
  auto& in_flight = metrics.gauge("ticketd_http_class_in_flight",
                                  "Requests in flight per traffic class", {"class"});
  for (std::size_t i = 0; i < kTrafficClasses; ++i) {
    const auto c = static_cast<TrafficClass>(i);
    const bool never = c == TrafficClass::kStream || c == TrafficClass::kOps;
    lanes_[i].limit = never ? 0 : limits[i];
    lanes_[i].shed = &shed.with({traffic_label(c)});
    lanes_[i].in_flight_gauge = &in_flight.with({traffic_label(c)});
    limit_gauge.with({traffic_label(c)}).set(static_cast<double>(lanes_[i].limit));
  }
}

void Shedder::shed_under(TrafficClass c, Pressure pressure) {
  lanes_[static_cast<std::size_t>(c)].pressure = std::move(pressure);
}

std::optional<Shedder::Slot> Shedder::enter(TrafficClass c) {
  Lane& lane = lanes_[static_cast<std::size_t>(c)];
  const std::size_t before = lane.in_flight.fetch_add(1, std::memory_order_acq_rel);
  if ((lane.limit != 0 && before >= lane.limit) || (lane.pressure && lane.pressure())) {
    lane.in_flight.fetch_sub(1, std::memory_order_acq_rel);
    lane.shed->inc();
    return std::nullopt;
  }
  lane.in_flight_gauge->inc();
  return Slot(&lane);
}

std::size_t Shedder::in_flight(TrafficClass c) const noexcept {
  return lanes_[static_cast<std::size_t>(c)].in_flight.load(std::memory_order_acquire);
}

}  // namespace ticketd::http
