#pragma once
// A Lua script run by EVALSHA (one round trip, the script body sent only when Redis does not know
// it: on first use, after a restart or a SCRIPT FLUSH).
#include <boost/asio/awaitable.hpp>
#include <mutex>
#include <string>
#include <vector>

#include "infra/redis/client.hpp"

namespace ticketd::infra::redis {

class Script {
 public:
  explicit Script(std::string body) : body_(std::move(body)) {}

  // EVALSHA with `keys` and `args`; loads the script first when needed. Returns the reply (a
  // script error is a kError reply); throws what Client::command throws, and core::InfraError
  // {kInternal, "REDIS_ERROR"} when the script cannot be loaded.
  boost::asio::awaitable<Reply> run(Client& client, std::vector<std::string> keys,
                                    std::vector<std::string> args);

 private:
  boost::asio::awaitable<std::string> sha(Client& client, bool reload);

  std::string body_;
  std::mutex mutex_;
  std::string sha_;
};

}  // namespace ticketd::infra::redis
