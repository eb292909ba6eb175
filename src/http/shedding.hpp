#pragma once
// Load shedding: a bound on requests in flight per traffic class. Past it a request is answered
// 503 SERVER_BUSY with Retry-After at once, before its body is read or the database pool is
// asked, instead of queueing behind work that already cannot finish in time.
#include <array>
#include <atomic>
#include <cstddef>
#include <optional>
#include <utility>

#include "core/metrics.hpp"
#include "http/traffic.hpp"

namespace ticketd::http {

class Shedder {
 public:
  // Requests in flight allowed per class; 0 = unbounded (stream and ops always are).
  using Limits = std::array<std::size_t, kTrafficClasses>;

  Shedder(const Limits& limits, core::metrics::Registry& metrics);
  Shedder(const Shedder&) = delete;
  Shedder& operator=(const Shedder&) = delete;

  // One class's bound, count and metrics.
  struct Lane {
    std::size_t limit = 0;
    std::atomic<std::size_t> in_flight{0};
    core::metrics::Gauge* in_flight_gauge = nullptr;
    core::metrics::Counter* shed = nullptr;
  };
  // Holds one place of its class until destroyed (or release()d).
  class Slot {
   public:
    Slot() = default;
    Slot(Slot&& other) noexcept : owner_(std::exchange(other.owner_, nullptr)) {}
    Slot& operator=(Slot&& other) noexcept;
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    ~Slot() { release(); }
    void release() noexcept;

   private:
    friend class Shedder;
    explicit Slot(Lane* owner) : owner_(owner) {}
    Lane* owner_ = nullptr;
  };

  // A place for a request of class `c`, or nullopt when the class is full (counted in
  // ticketd_shed_total{class}). Any thread, lock-free.
  std::optional<Slot> enter(TrafficClass c);

  std::size_t in_flight(TrafficClass c) const noexcept;

 private:
  std::array<Lane, kTrafficClasses> lanes_;
};

}  // namespace ticketd::http
