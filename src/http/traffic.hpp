#pragma once
// What kind of work a route is, for load shedding and rate limits: each class has its own bound
// on requests in flight and its own request budget, so a flood of one kind (logins, reserve
// attempts) cannot starve the others.
#include <array>
#include <cstddef>
#include <string_view>

namespace ticketd::http {

enum class TrafficClass : std::size_t {
  kReads,     // GET/HEAD that are not one of the classes below
  kWrites,    // other writes (organizers' catalogue, members, cancellations, ...)
  kAuth,      // register, login, refresh: password hashing and token minting
  kReserve,   // POST /reservations, the on-sale hot path
  kQueue,     // the waiting room: Redis only, so never shed for the database pool's sake
  kPayments,  // checkout and refunds: a provider call each
  kWebhook,   // payment provider callbacks
  kStream,    // SSE connects: long-lived, bounded by their own stream caps instead
  kOps,       // health and metrics: never shed nor limited, operators must see an overload
};

inline constexpr std::size_t kTrafficClasses = 9;

// The metrics label and configuration word: "reads", "reserve", ...
constexpr std::string_view traffic_label(TrafficClass c) noexcept {
  constexpr std::array<std::string_view, kTrafficClasses> kLabels{
      "reads", "writes", "auth", "reserve", "queue", "payments", "webhook", "stream", "ops"};
  return kLabels[static_cast<std::size_t>(c)];
}

}  // namespace ticketd::http
