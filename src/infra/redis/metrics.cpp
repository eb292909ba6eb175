#include "infra/redis/metrics.hpp"

namespace ticketd::infra::redis {

Metrics::Metrics(core::metrics::Registry& registry)
    : connection_up(registry.gauge("ticketd_redis_connection_up",
                                   "Redis connections that are up, by role", {"role"})),
      reconnects(registry.counter("ticketd_redis_reconnects_total",
                                  "Redis connections re-established after a loss, by role",
                                  {"role"})),
      commands(registry.counter("ticketd_redis_commands_total", "Redis commands by outcome",
                                {"outcome"})),
      command_duration(registry.histogram("ticketd_redis_command_duration_seconds",
                                          "Redis command latency from send to reply")),
      commands_in_flight(registry.gauge("ticketd_redis_commands_in_flight",
                                        "Redis commands sent and not yet answered")),
      messages_received(registry.counter("ticketd_redis_messages_received_total",
                                         "Redis pub/sub messages delivered to the handler")),
      subscribed_channels(registry.gauge("ticketd_redis_subscribed_channels",
                                         "Redis channels the subscribers want")) {}

}  // namespace ticketd::infra::redis
