#include "modules/ratelimit/streams.hpp"

#include <stdexcept>
#include <string_view>

namespace ticketd::ratelimit {

namespace asio = boost::asio;
using infra::redis::Reply;

namespace {

// KEYS: sorted sets of leases (member: lease id, score: when it lapses, ms on Redis's clock).
// ARGV[1] op, ARGV[2] ttl ms, then:
//   take:  lease id, then one cap per key (0 = none): lapsed leases are dropped, and the lease is
//          added to every key only when each holds fewer than its cap; returns 1 or 0;
//   renew: one lease id per key, pushed `ttl` further where it still is (XX: a lease given back
//          or lapsed is not revived);
//   give:  one lease id per key, removed.
constexpr std::string_view kScript = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local op, ttl = ARGV[1], tonumber(ARGV[2])
if op == 'take' then
  local lease = ARGV[3]
  for i, key in ipairs(KEYS) do
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
    local cap = tonumber(ARGV[3 + i])
    if cap > 0 and redis.call('ZCARD', key) >= cap then return 0 end
  end
  for _, key in ipairs(KEYS) do
    redis.call('ZADD', key, now + ttl, lease)
    redis.call('PEXPIRE', key, ttl)
  end
  return 1
end
for i, key in ipairs(KEYS) do
  if op == 'renew' then
    redis.call('ZADD', key, 'XX', now + ttl, ARGV[2 + i])
    redis.call('PEXPIRE', key, ttl)
  else
    redis.call('ZREM', key, ARGV[2 + i])
  end
end
return 1
)lua";

constexpr std::string_view kPrefix = "ticketd:rl:sse-streams:";

std::string ip_key(const StreamLease& l) {
  return std::string(kPrefix) + "ip:" + l.ip;
}
std::string user_key(const StreamLease& l) {
  return std::string(kPrefix) + "user:" + l.user_id;
}

}  // namespace

StreamLeases::StreamLeases(std::shared_ptr<infra::redis::Client> redis,
                           std::chrono::milliseconds ttl)
    : redis_(std::move(redis)), script_(std::string(kScript)), ttl_(ttl) {}

asio::awaitable<bool> StreamLeases::take(StreamLease lease, int max_per_ip, int max_per_user) {
  std::vector<std::string> keys{ip_key(lease)};
  std::vector<std::string> args{"take", std::to_string(ttl_.count()), lease.id,
                                std::to_string(max_per_ip)};
  if (!lease.user_id.empty()) {
    keys.push_back(user_key(lease));
    args.push_back(std::to_string(max_per_user));
  }
  auto reply = co_await script_.run(*redis_, std::move(keys), std::move(args));
  if (reply.is_error() || reply.type != Reply::Type::kInteger) {
    throw std::runtime_error("unexpected stream-lease script reply: " + reply.str);
  }
  co_return reply.integer == 1;
}

asio::awaitable<void> StreamLeases::give_back(std::vector<StreamLease> leases) {
  co_await each("give", std::move(leases));
}

asio::awaitable<void> StreamLeases::renew(std::vector<StreamLease> leases) {
  co_await each("renew", std::move(leases));
}

asio::awaitable<void> StreamLeases::each(std::string op, std::vector<StreamLease> leases) {
  // Bounded calls: a few hundred keys each, however many streams an instance holds.
  constexpr std::size_t kPerCall = 256;
  for (std::size_t from = 0; from < leases.size(); from += kPerCall) {
    std::vector<std::string> keys;
    std::vector<std::string> args{op, std::to_string(ttl_.count())};
    for (std::size_t i = from; i < leases.size() && i < from + kPerCall; ++i) {
      keys.push_back(ip_key(leases[i]));
      args.push_back(leases[i].id);
      if (!leases[i].user_id.empty()) {
        keys.push_back(user_key(leases[i]));
        args.push_back(leases[i].id);
      }
    }
    auto reply = co_await script_.run(*redis_, std::move(keys), std::move(args));
    if (reply.is_error()) {
      throw std::runtime_error("unexpected stream-lease script reply: " + reply.str);
    }
  }
}

}  // namespace ticketd::ratelimit
