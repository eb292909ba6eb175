#pragma once
// The ticketd_redis_* families, shared by the command Client and the Subscriber (the role is a
// label, not a separate family).
#include "core/metrics.hpp"

namespace ticketd::infra::redis {

class Metrics {
 public:
  // Registers (or, as the Registry returns an existing family by name, finds) every family.
  // Components copy the children they need at construction and keep references into the
  // Registry, so the Registry must outlive them; this object need not.
  explicit Metrics(core::metrics::Registry& registry);

  // Live connections per role ("command", "subscriber"); up/down moves it by one, so several
  // connections of a role add up instead of overwriting each other.
  core::metrics::Family<core::metrics::Gauge>& connection_up;
  // Connections re-established after a loss, per role.
  core::metrics::Family<core::metrics::Counter>& reconnects;
  // Commands by outcome: ok, error (a Redis error reply), unavailable, timeout.
  core::metrics::Family<core::metrics::Counter>& commands;
  // Send-to-reply latency of commands that got a reply or timed out.
  core::metrics::Family<core::metrics::Histogram>& command_duration;
  // Commands sent and not yet answered (bounded by Options::max_in_flight per Client).
  core::metrics::Family<core::metrics::Gauge>& commands_in_flight;
  // Pub/sub messages handed to the message handler.
  core::metrics::Family<core::metrics::Counter>& messages_received;
  // Channels the Subscribers want (resubscribed after every reconnect).
  core::metrics::Family<core::metrics::Gauge>& subscribed_channels;
};

}  // namespace ticketd::infra::redis
