#pragma once
// Writing outbox rows (SPEC §10) inside the transaction of the state change they describe: the
// only entry point takes a pg::Tx, so an event cannot be written outside one (invariant 4).
// The Kafka value is built here once, in the standard envelope
// {eventId, type, occurredAt, version, correlationId, actor, data}; occurredAt is the database
// clock. workers/outbox_publisher sends the stored payload as is.
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

// {"userId": ..., "apiKeyId": ...} with nulls for what is absent: the envelope's `actor`.
boost::json::object actor_json(const core::Actor& actor);
// The same, serialized: for SQL functions that take the actor as a jsonb parameter.
std::string actor_json_text(const core::Actor& actor);

// Inserts one row; returns its id (the envelope's eventId). The actor's request id becomes the
// correlation id.
boost::asio::awaitable<std::string> append(pg::Tx& tx, const Event& event,
                                           const core::Actor& actor);

}  // namespace ticketd::infra::outbox
