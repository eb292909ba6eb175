#pragma once
// Concurrent SSE streams per client address and per user, counted across instances. Each open
// stream is a lease: a member of a sorted set per address and per user, scored by when it lapses
// (Redis's clock). Taking checks both caps and adds the lease in one EVALSHA; closing removes it;
// the instance that holds a lease renews it (stream::Fanout, every heartbeat), so the leases of
// an instance that died lapse after `ttl` instead of counting forever. When Redis cannot answer,
// callers keep their per-instance caps only (never "unlimited", never "refuse everyone").
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "infra/redis/client.hpp"
#include "infra/redis/script.hpp"

namespace ticketd::ratelimit {

struct StreamLease {
  std::string id;  // unique across instances
  std::string ip;
  std::string user_id;  // empty: anonymous, only the address counts
};

class StreamLeases {
 public:
  StreamLeases(std::shared_ptr<infra::redis::Client> redis, std::chrono::milliseconds ttl);

  // Takes the lease when the address holds fewer than `max_per_ip` live leases and the user
  // fewer than `max_per_user` (0 = no cap), and says whether it did. Throws when Redis cannot
  // answer.
  boost::asio::awaitable<bool> take(StreamLease lease, int max_per_ip, int max_per_user);
  // Removes leases (closed streams) / pushes their lapse `ttl` further (live streams). Leases
  // already gone stay gone. Throw when Redis cannot answer.
  boost::asio::awaitable<void> give_back(std::vector<StreamLease> leases);
  boost::asio::awaitable<void> renew(std::vector<StreamLease> leases);

 private:
  boost::asio::awaitable<void> each(std::string op, std::vector<StreamLease> leases);

  std::shared_ptr<infra::redis::Client> redis_;
  infra::redis::Script script_;
  std::chrono::milliseconds ttl_;
};

}  // namespace ticketd::ratelimit
