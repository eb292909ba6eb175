#include "infra/outbox/outbox.hpp"

#include <boost/json/serialize.hpp>

#include "core/ids.hpp"

namespace ticketd::infra::outbox {

namespace {

constexpr pg::Statement kAppend{"outbox_append", R"sql(
INSERT INTO outbox_events (id, aggregate_type, aggregate_id, topic, event_type, message_key,
                           payload, correlation_id)
VALUES ($1::text::uuid, $2, $3::text::uuid, $4::text, $4::text, $5,
        jsonb_build_object(
          'eventId', $1::text, 'type', $4::text,
          'occurredAt', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
          'version', 1, 'correlationId', NULLIF($6, ''), 'actor', $7::jsonb, 'data', $8::jsonb),
        NULLIF($6, '')))sql"};

}  // namespace

boost::json::object actor_json(const core::Actor& actor) {
  boost::json::object o;
  o["userId"] =
      actor.user_id.empty() ? boost::json::value(nullptr) : boost::json::value(actor.user_id);
  o["apiKeyId"] =
      actor.api_key_id.empty() ? boost::json::value(nullptr) : boost::json::value(actor.api_key_id);
  return o;
}

std::string actor_json_text(const core::Actor& actor) {
  return boost::json::serialize(actor_json(actor));
}

boost::asio::awaitable<std::string> append(pg::Tx& tx, const Event& event,
                                           const core::Actor& actor) {
  std::string id = core::new_uuid();
  pg::Params params(id, event.aggregate_type, event.aggregate_id, event.topic,
                    event.key.empty() ? event.aggregate_id : event.key, actor.request_id,
                    boost::json::serialize(actor_json(actor)), boost::json::serialize(event.data));
  co_await tx.query(kAppend, params);
  co_return id;
}

}  // namespace ticketd::infra::outbox
