#include "modules/queue/line.hpp"

#include "core/errors.hpp"
#include "core/ids.hpp"

namespace ticketd::queue {

namespace asio = boost::asio;
using infra::redis::Reply;

namespace {

// KEYS: the line (sorted set user -> order), its state (hash: admitted, at, carry, seq; for AUTO
// auto, second, attempts, hot_until), the passes (hash user -> expiry ms).
// ARGV[1]: op (join | look | attempt). join: user, random order key, sale start ms, admit per
// second, sellable (1/0), pass ms, mode (ON | AUTO). look: user. attempt: threshold per second.
// join/look return {running, rank, admitted, expires ms, now ms}; attempt returns {running}.
// Places: before the sale opens a random key below 2^40 (a shuffle among early joiners), after it
// 2^40 + a sequence number (first come, first served). Admission advances lazily, by the time
// since the last call times the rate, only while the sale is open and something is sellable; a
// fraction of a buyer carries over, and at most one buyer's worth accrues while nobody waits.
constexpr std::string_view kScript = R"lua(
local line, state, passes = KEYS[1], KEYS[2], KEYS[3]
local op = ARGV[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local keep = 86400000
if op == 'attempt' then
  local threshold = tonumber(ARGV[2])
  local sec = math.floor(now / 1000)
  local a = redis.call('HMGET', state, 'second', 'attempts', 'auto', 'admitted', 'hot_until')
  local n = 1
  if tonumber(a[1]) == sec then n = tonumber(a[2]) + 1 end
  local running = a[3] == '1'
  local hot_until = tonumber(a[5]) or 0
  if n > threshold then
    running = true
    hot_until = now + 5000
  elseif running and now >= hot_until and redis.call('ZCARD', line) <= (tonumber(a[4]) or 0) then
    running = false
  end
  redis.call('HSET', state, 'second', sec, 'attempts', n, 'auto', running and '1' or '0',
             'hot_until', hot_until)
  redis.call('PEXPIRE', state, keep)
  return {running and 1 or 0}
end
local user = ARGV[2]
if op == 'look' then
  local rank = redis.call('ZRANK', line, user)
  local admitted = tonumber(redis.call('HGET', state, 'admitted')) or 0
  local expires = tonumber(redis.call('HGET', passes, user)) or 0
  return {1, rank and rank + 1 or 0, admitted, expires, now}
end
local order, opens, rate = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local sellable, pass, mode = ARGV[6] == '1', tonumber(ARGV[7]), ARGV[8]
if mode == 'AUTO' and redis.call('HGET', state, 'auto') ~= '1' then
  return {0, 0, 0, 0, now}
end
local s = redis.call('HMGET', state, 'admitted', 'at', 'carry', 'seq')
local admitted, at = tonumber(s[1]) or 0, tonumber(s[2]) or now
local carry, seq = tonumber(s[3]) or 0, tonumber(s[4]) or 0
local size = redis.call('ZCARD', line)
local open = now >= opens
if open and sellable then
  carry = carry + math.max(0, now - at) * rate / 1000
  local step = math.floor(carry)
  carry = carry - step
  admitted = math.min(size, admitted + step)
  if admitted >= size then carry = math.min(carry, 1) end
else
  carry = 0
end
if not redis.call('ZSCORE', line, user) then
  local key = order
  if open then
    seq = seq + 1
    key = 1099511627776 + seq
  end
  redis.call('ZADD', line, key, user)
  size = size + 1
  if open and sellable and admitted + carry >= size then
    admitted = size
    carry = carry - 1
  end
end
local rank = redis.call('ZRANK', line, user) + 1
redis.call('HSET', state, 'admitted', admitted, 'at', now, 'carry', tostring(carry), 'seq', seq)
local expires = 0
if rank <= admitted then
  expires = tonumber(redis.call('HGET', passes, user))
  -- A pass that lapsed unused is renewed: admission is a right to try, holds stay limited.
  if not expires or expires <= now then
    expires = now + pass
    redis.call('HSET', passes, user, expires)
  end
end
redis.call('PEXPIRE', line, keep)
redis.call('PEXPIRE', state, keep)
redis.call('PEXPIRE', passes, keep)
return {1, rank, admitted, expires, now}
)lua";

std::vector<std::string> keys_of(const std::string& event_id) {
  const std::string base = "ticketd:queue:" + event_id;
  return {base + ":line", base + ":state", base + ":passes"};
}

Standing standing_of(const Reply& reply) {
  if (reply.is_error() || reply.type != Reply::Type::kArray || reply.elements.size() != 5) {
    throw core::InfraError(core::ErrorKind::kUnavailable, "REDIS_ERROR",
                           "unexpected queue script reply: " + reply.str);
  }
  return Standing{reply.elements[0].integer == 1, reply.elements[1].integer,
                  reply.elements[2].integer, reply.elements[3].integer, reply.elements[4].integer};
}

}  // namespace

Line::Line(std::shared_ptr<infra::redis::Client> redis)
    : redis_(std::move(redis)), script_(std::string(kScript)) {}

asio::awaitable<Standing> Line::join(std::string event_id, std::string user_id, EventState state,
                                     std::int64_t pass_ms) {
  // A random place below 2^40 for a buyer who joins before the sale opens.
  const auto order = static_cast<std::int64_t>(core::random_below(1u << 20)) * (1 << 20) +
                     static_cast<std::int64_t>(core::random_below(1u << 20));
  std::vector<std::string> args{"join",
                                std::move(user_id),
                                std::to_string(order),
                                std::to_string(state.sales_start_ms),
                                std::to_string(state.admit_per_second),
                                state.sellable ? "1" : "0",
                                std::to_string(pass_ms),
                                state.mode};
  auto keys = keys_of(event_id);
  auto reply = co_await script_.run(*redis_, std::move(keys), std::move(args));
  co_return standing_of(reply);
}

asio::awaitable<Standing> Line::look(std::string event_id, std::string user_id) {
  std::vector<std::string> args{"look", std::move(user_id)};
  auto keys = keys_of(event_id);
  auto reply = co_await script_.run(*redis_, std::move(keys), std::move(args));
  co_return standing_of(reply);
}

asio::awaitable<bool> Line::attempt(std::string event_id, std::int64_t threshold_per_second) {
  std::vector<std::string> args{"attempt", std::to_string(threshold_per_second)};
  auto keys = keys_of(event_id);
  auto reply = co_await script_.run(*redis_, std::move(keys), std::move(args));
  if (reply.is_error() || reply.type != Reply::Type::kArray || reply.elements.size() != 1) {
    throw core::InfraError(core::ErrorKind::kUnavailable, "REDIS_ERROR",
                           "unexpected queue script reply: " + reply.str);
  }
  co_return reply.elements[0].integer == 1;
}

}  // namespace ticketd::queue
