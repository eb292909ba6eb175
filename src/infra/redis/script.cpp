#include "infra/redis/script.hpp"

#include "core/errors.hpp"

namespace ticketd::infra::redis {

namespace asio = boost::asio;

asio::awaitable<Reply> Script::run(Client& client, std::vector<std::string> keys,
                                   std::vector<std::string> args) {
  std::vector<std::string> command;
  command.reserve(3 + keys.size() + args.size());
  command.emplace_back("EVALSHA");
  command.emplace_back();  // the sha, below
  command.push_back(std::to_string(keys.size()));
  for (auto& k : keys) command.push_back(std::move(k));
  for (auto& a : args) command.push_back(std::move(a));
  Reply reply;
  for (int attempt = 0; attempt < 2; ++attempt) {
    const bool reload = attempt > 0;
    command[1] = co_await sha(client, reload);
    std::vector<std::string> copy = command;
    reply = co_await client.command(std::move(copy));
    if (!(reply.is_error() && reply.str.starts_with("NOSCRIPT"))) break;
  }
  co_return reply;
}

asio::awaitable<std::string> Script::sha(Client& client, bool reload) {
  {
    std::lock_guard lock(mutex_);
    if (!reload && !sha_.empty()) co_return sha_;
  }
  std::string body = body_;
  auto reply = co_await client.command("SCRIPT", "LOAD", std::move(body));
  if (reply.is_error() || reply.str.empty()) {
    throw core::InfraError(core::ErrorKind::kInternal, "REDIS_ERROR",
                           "SCRIPT LOAD failed: " + reply.str);
  }
  std::lock_guard lock(mutex_);
  sha_ = reply.str;
  co_return sha_;
}

}  // namespace ticketd::infra::redis
