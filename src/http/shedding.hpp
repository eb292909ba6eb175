#pragma once
// Load shedding: a bound on requests in flight per traffic class. Past it a request is answered
// 503 SERVER_BUSY with Retry-After at once, before its body is read or the database pool is
// asked, instead of queueing behind work that already cannot finish in time.
#include <array>
#include <atomic>
#include <cstddef>
#include <functional>
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

  // Says whether a class's downstream is already saturated (e.g. the expected wait for a
  // database connection passed its budget): then the class sheds below its bound too.
  using Pressure = std::function<bool()>;

  // One class's bound, count and metrics.
  struct Lane {
    std::size_t limit = 0;
    Pressure pressure;
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

  // Before the first request: class `c` also sheds while `pressure()` holds.
  void shed_under(TrafficClass c, Pressure pressure);

  // A place for a request of class `c`, or nullopt when the class is full or under pressure
  // (counted in ticketd_shed_total{class}). Any thread; lock-free but for the pressure check.
  std::optional<Slot> enter(TrafficClass c);

  std::size_t in_flight(TrafficClass c) const noexcept;

 private:
  std::array<Lane, kTrafficClasses> lanes_;
};

}  // namespace ticketd::http
