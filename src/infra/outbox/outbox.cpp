#include "infra/outbox/outbox.hpp"

#include <boost/json/serialize.hpp>

namespace ticketd::infra::outbox {

namespace {

// The envelope has one writer, the SQL function (sql/functions/outbox_append.sql): the C++ side
// only passes the parts.
constexpr pg::Statement kAppend{"outbox_append", R"sql(
SELECT outbox_append($1, $2, $3::text::uuid, $4, $5::jsonb, $6, $7::jsonb)::text)sql"};

}  // namespace

std::string actor_json_text(const core::Actor& actor) {
  boost::json::object o;
  o["userId"] =
      actor.user_id.empty() ? boost::json::value(nullptr) : boost::json::value(actor.user_id);
  o["apiKeyId"] =
      actor.api_key_id.empty() ? boost::json::value(nullptr) : boost::json::value(actor.api_key_id);
  return boost::json::serialize(o);
}

boost::asio::awaitable<std::string> append(pg::Tx& tx, const Event& event,
                                           const core::Actor& actor) {
  pg::Params params(event.topic, event.aggregate_type, event.aggregate_id, event.key,
                    boost::json::serialize(event.data), actor.request_id, actor_json_text(actor));
  pg::Result result = co_await tx.query(kAppend, params);
  co_return result.string(0, 0);
}

}  // namespace ticketd::infra::outbox
