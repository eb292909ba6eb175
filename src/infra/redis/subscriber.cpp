#include "infra/redis/subscriber.hpp"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <utility>

#include "core/log.hpp"
#include "infra/redis/connection.hpp"

namespace ticketd::infra::redis {
namespace {

// Channels per SUBSCRIBE when resubscribing, so one reconnect never builds a giant command.
constexpr std::size_t kSubscribeBatch = 500;

std::string_view element_text(const redisReply& reply, std::size_t i) {
  const redisReply* e = reply.element[i];
  if (e == nullptr || (e->type != REDIS_REPLY_STRING && e->type != REDIS_REPLY_STATUS)) return {};
  return {e->str, e->len};
}

}  // namespace

std::shared_ptr<Subscriber> Subscriber::create(const boost::asio::any_io_executor& executor,
                                               Options options, Metrics& metrics,
                                               MessageHandler on_message, StateHandler on_state) {
  return std::make_shared<Subscriber>(Private{}, executor, std::move(options), metrics,
                                      std::move(on_message), std::move(on_state));
}

std::shared_ptr<Subscriber> Subscriber::create(const boost::asio::any_io_executor& executor,
                                               Options options, core::metrics::Registry& registry,
                                               MessageHandler on_message, StateHandler on_state) {
  Metrics metrics(registry);
  return create(executor, std::move(options), metrics, std::move(on_message), std::move(on_state));
}

Subscriber::Subscriber(Private, const boost::asio::any_io_executor& executor, Options options,
                       Metrics& metrics, MessageHandler on_message, StateHandler on_state)
    : connection_(std::make_shared<Connection>(boost::asio::make_strand(executor),
                                               std::move(options), "subscriber", metrics)),
      on_message_(std::move(on_message)),
      on_state_(std::move(on_state)),
      messages_received_(metrics.messages_received.get()),
      subscribed_channels_(metrics.subscribed_channels.get()) {}

Subscriber::~Subscriber() = default;

void Subscriber::start() {
  if (started_.exchange(true) || stopped_.load()) return;
  auto self = shared_from_this();
  // The hooks hold this subscriber until stop() has run on the strand.
  connection_->start({.on_up = [self] { self->on_up(); },
                      .on_down = [self](const std::string&) { self->on_down(); }});
}

void Subscriber::stop() {
  if (stopped_.exchange(true)) return;
  ready_.store(false, std::memory_order_release);
  connection_->stop();  // its on_down hook runs first on the strand and reports false
  boost::asio::post(connection_->strand(), [self = shared_from_this()] { self->forget_all(); });
}

boost::asio::awaitable<void> Subscriber::async_stop() {
  stop();
  // A strand runs its handlers in order, so once this one has run, so has the stop.
  co_await boost::asio::post(connection_->strand(), boost::asio::use_awaitable);
}

void Subscriber::subscribe(std::string channel) {
  if (stopped_.load()) return;
  boost::asio::post(connection_->strand(),
                    [self = shared_from_this(), channel = std::move(channel)]() mutable {
                      if (self->stopped_.load()) return;
                      const auto [it, inserted] = self->channels_.insert(std::move(channel));
                      if (!inserted) return;
                      self->subscribed_channels_.inc();
                      // While down it is only remembered; on_up subscribes everything.
                      if (self->connection_->context() != nullptr) self->send("SUBSCRIBE", {*it});
                    });
}

void Subscriber::unsubscribe(std::string channel) {
  if (stopped_.load()) return;
  boost::asio::post(connection_->strand(),
                    [self = shared_from_this(), channel = std::move(channel)] {
                      if (self->stopped_.load()) return;
                      if (self->channels_.erase(channel) == 0) return;
                      self->subscribed_channels_.dec();
                      self->confirmed_.erase(channel);
                      self->confirm_waiters_.erase(channel);
                      if (self->connection_->context() != nullptr) {
                        self->send("UNSUBSCRIBE", {channel});
                      }
                      // A channel that is no longer wanted must not hold back "up".
                      if (self->awaiting_.erase(channel) != 0 && self->awaiting_.empty()) {
                        self->announce(true);
                      }
                    });
}

void Subscriber::when_subscribed(std::string channel, std::function<void()> callback) {
  if (stopped_.load()) return;
  boost::asio::post(connection_->strand(), [self = shared_from_this(), channel = std::move(channel),
                                            callback = std::move(callback)]() mutable {
    if (self->stopped_.load() || !self->channels_.contains(channel)) return;
    if (self->confirmed_.contains(channel)) {
      try {
        callback();
      } catch (const std::exception& e) {
        core::log::error("redis subscribe callback threw", {{"error", e.what()}});
      }
      return;
    }
    self->confirm_waiters_.emplace(std::move(channel), std::move(callback));
  });
}

void Subscriber::confirm(std::string_view channel) {
  auto it = unconfirmed_.find(channel);
  if (it != unconfirmed_.end() && --it->second > 0) return;  // a later SUBSCRIBE is pending
  if (it != unconfirmed_.end()) unconfirmed_.erase(it);
  if (!channels_.contains(channel)) return;
  confirmed_.emplace(channel);
  auto [first, last] = confirm_waiters_.equal_range(channel);
  std::vector<std::function<void()>> ready;
  for (auto w = first; w != last; ++w) ready.push_back(std::move(w->second));
  confirm_waiters_.erase(first, last);
  for (auto& cb : ready) {
    try {
      cb();
    } catch (const std::exception& e) {
      core::log::error("redis subscribe callback threw", {{"error", e.what()}});
    }
  }
}

void Subscriber::on_up() {
  awaiting_ = channels_;
  if (awaiting_.empty()) {
    announce(true);
    return;
  }
  std::vector<std::string_view> batch;
  batch.reserve(std::min(kSubscribeBatch, channels_.size()));
  for (const auto& channel : channels_) {
    batch.push_back(channel);
    if (batch.size() == kSubscribeBatch) {
      send("SUBSCRIBE", batch);
      batch.clear();
    }
  }
  if (!batch.empty()) send("SUBSCRIBE", batch);
}

void Subscriber::on_down() {
  awaiting_.clear();
  unconfirmed_.clear();
  confirmed_.clear();
  announce(false);
}

void Subscriber::forget_all() {
  subscribed_channels_.dec(static_cast<double>(channels_.size()));
  channels_.clear();
  awaiting_.clear();
  unconfirmed_.clear();
  confirmed_.clear();
  confirm_waiters_.clear();
}

void Subscriber::send(std::string_view verb, const std::vector<std::string_view>& channels) {
  redisAsyncContext* ac = connection_->context();
  if (ac == nullptr) return;
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  argv.reserve(channels.size() + 1);
  lens.reserve(channels.size() + 1);
  argv.push_back(verb.data());
  lens.push_back(verb.size());
  for (const auto& c : channels) {
    argv.push_back(c.data());
    lens.push_back(c.size());
  }
  // hiredis keeps the callback per channel and calls it for the confirmation and every message.
  // It refuses UNSUBSCRIBE when nothing is subscribed on this context, which is fine.
  if (redisAsyncCommandArgv(ac, &Subscriber::on_push, this, static_cast<int>(argv.size()),
                            argv.data(), lens.data()) != REDIS_OK) {
    core::log::debug("redis pub/sub command not queued",
                     {{"command", verb}, {"channels", channels.size()}});
    return;
  }
  if (verb == "SUBSCRIBE") {
    for (const auto& c : channels) ++unconfirmed_[std::string(c)];
  }
}

void Subscriber::on_push(redisAsyncContext* /*ac*/, void* r, void* privdata) noexcept {
  // NULL: the context is being freed; the loss is reported through on_down.
  if (r == nullptr) return;
  // Alive: the connection's hooks hold this subscriber for as long as the context exists.
  auto* self = static_cast<Subscriber*>(privdata);
  const auto& reply = *static_cast<const redisReply*>(r);
  if (reply.type != REDIS_REPLY_ARRAY || reply.elements < 3) return;
  const std::string_view kind = element_text(reply, 0);
  const std::string_view channel = element_text(reply, 1);
  try {
    if (kind == "message") {
      if (!self->channels_.contains(channel)) return;  // unsubscribed meanwhile
      self->messages_received_.inc();
      if (self->on_message_) self->on_message_(channel, element_text(reply, 2));
    } else if (kind == "subscribe") {
      self->confirm(channel);
      // Heterogeneous erase is C++23; find + erase keeps the view without a copy.
      if (const auto it = self->awaiting_.find(channel); it != self->awaiting_.end()) {
        self->awaiting_.erase(it);
        if (self->awaiting_.empty()) self->announce(true);
      }
    }
  } catch (const std::exception& e) {
    core::log::error("redis message handler threw", {{"channel", channel}, {"error", e.what()}});
  } catch (...) {
    core::log::error("redis message handler threw", {{"channel", channel}, {"error", "unknown"}});
  }
}

void Subscriber::announce(bool up) {
  if (announced_up_ == up) return;
  announced_up_ = up;
  ready_.store(up && !stopped_.load(), std::memory_order_release);
  if (!on_state_) return;
  try {
    on_state_(up);
  } catch (const std::exception& e) {
    core::log::error("redis state handler threw", {{"up", up}, {"error", e.what()}});
  } catch (...) {
    core::log::error("redis state handler threw", {{"up", up}, {"error", "unknown"}});
  }
}

}  // namespace ticketd::infra::redis
