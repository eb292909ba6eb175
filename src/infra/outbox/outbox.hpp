#pragma once
// Writing outbox rows inside the transaction of the state change they describe: the only entry
// point takes a pg::Tx, so an event cannot be written outside the change it reports.
// The Kafka value, the envelope {eventId, type, occurredAt, version, correlationId, actor, data},
// is built by the SQL function outbox_append (sql/functions/outbox_append.sql), which the SQL
// functions call too: one writer. occurredAt is the database clock. workers/outbox_publisher
// sends the stored payload as is.
#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <string>

#include "core/actor.hpp"
#include "infra/pg/pool.hpp"

namespace ticketd::infra::outbox {

struct Event {
  std::string topic;           // also the event type, e.g. "event.created"
  std::string aggregate_type;  // "event", "reservation", ...
  std::string aggregate_id;
  std::string key;  // Kafka key; empty = the aggregate id
  boost::json::object data;
};

// {"userId": ..., "apiKeyId": ...} with nulls for what is absent, serialized: the envelope's
// `actor`, for the SQL functions that take it as a jsonb parameter.
std::string actor_json_text(const core::Actor& actor);

// Inserts one row; returns its id (the envelope's eventId). The actor's request id becomes the
// correlation id.
boost::asio::awaitable<std::string> append(pg::Tx& tx, const Event& event,
                                           const core::Actor& actor);

}  // namespace ticketd::infra::outbox
