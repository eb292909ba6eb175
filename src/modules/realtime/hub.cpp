#include "modules/realtime/hub.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>

#include "core/ids.hpp"
#include "core/log.hpp"
#include "infra/redis/client.hpp"
#include "infra/redis/subscriber.hpp"

namespace ticketd::realtime {

namespace asio = boost::asio;

Hub::Hub(const asio::any_io_executor& executor, std::shared_ptr<infra::redis::Client> client,
         const infra::redis::Options& subscriber_options, core::metrics::Registry& metrics)
    : executor_(executor),
      instance_id_(core::new_uuid()),
      client_(std::move(client)),
      published_(metrics
                     .counter("ticketd_realtime_published_total",
                              "Seat-change messages published to Redis")
                     .get()),
      publish_failures_(metrics
                            .counter("ticketd_realtime_publish_failures_total",
                                     "Seat-change messages Redis did not take (down or slow)")
                            .get()),
      received_(metrics
                    .counter("ticketd_realtime_received_total",
                             "Realtime messages received for channels watched on this instance")
                    .get()) {
  subscriber_ = infra::redis::Subscriber::create(
      executor, subscriber_options, metrics,
      [this](std::string_view channel, std::string_view payload) { dispatch(channel, payload); },
      [this](bool up) { state(up); });
}

Hub::~Hub() {
  subscriber_->stop();
}

void Hub::start() {
  subscriber_->start();
}

asio::awaitable<void> Hub::async_stop() {
  co_await subscriber_->async_stop();
}

std::string Hub::channel(std::string_view event_id) {
  std::string c = "realtime:event:";
  c += event_id;
  return c;
}

bool Hub::connected() const noexcept {
  return subscriber_->connected();
}

asio::awaitable<bool> Hub::publish(std::string event_id, std::string payload) {
  try {
    std::string ch = channel(event_id);
    std::string body = payload;
    co_await client_->publish(std::move(ch), std::move(body));
    published_.inc();
    co_return true;
  } catch (const std::exception& e) {
    publish_failures_.inc();
    core::log::warn("realtime publish failed", {{"eventId", event_id}, {"error", e.what()}});
  }
  // Redis did not take it: at least this instance's watchers hear of the change (the others
  // may miss it until their next re-read).
  dispatch(channel(event_id), payload);
  co_return false;
}

void Hub::publish_detached(std::string event_id, std::string payload) {
  // publish() never throws; the handler only has to exist.
  asio::co_spawn(executor_, publish(std::move(event_id), std::move(payload)),
                 [](const std::exception_ptr&, bool) {});
}

std::shared_ptr<Hub::Watch> Hub::watch(const std::string& event_id, Listener listener) {
  std::string ch = channel(event_id);
  std::uint64_t id = 0;
  {
    // (Un)subscribe under the lock, so the subscriber sees them in refcount order.
    std::lock_guard lock(mutex_);
    id = next_id_++;
    auto& c = channels_[ch];
    if (c.listeners.empty()) subscriber_->subscribe(ch);
    c.listeners.emplace(id, std::make_shared<const Listener>(std::move(listener)));
  }
  return std::make_shared<Watch>(*this, std::move(ch), id);
}

void Hub::when_subscribed(const std::string& event_id, std::function<void()> callback) {
  subscriber_->when_subscribed(channel(event_id), std::move(callback));
}

void Hub::unwatch(const std::string& channel, std::uint64_t id) {
  std::lock_guard lock(mutex_);
  auto it = channels_.find(channel);
  if (it == channels_.end()) return;
  it->second.listeners.erase(id);
  if (it->second.listeners.empty()) {
    channels_.erase(it);
    subscriber_->unsubscribe(channel);
  }
}

void Hub::on_state(StateListener listener) {
  std::lock_guard lock(mutex_);
  state_listeners_.push_back(std::move(listener));
}

void Hub::dispatch(std::string_view channel, std::string_view payload) {
  std::vector<std::shared_ptr<const Listener>> targets;
  {
    std::lock_guard lock(mutex_);
    auto it = channels_.find(channel);
    if (it == channels_.end()) return;
    targets.reserve(it->second.listeners.size());
    for (const auto& [id, l] : it->second.listeners) targets.push_back(l);
  }
  received_.inc();
  // Outside the lock: a listener may watch or unwatch.
  for (const auto& l : targets) (*l)(payload);
}

void Hub::state(bool up) {
  std::vector<StateListener> listeners;
  {
    std::lock_guard lock(mutex_);
    listeners = state_listeners_;
  }
  for (const auto& l : listeners) l(up);
}

}  // namespace ticketd::realtime
