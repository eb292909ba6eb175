#include "modules/stream/fanout.hpp"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <optional>
#include <string_view>
#include <vector>

#include "core/errors.hpp"
#include "core/ids.hpp"
#include "core/log.hpp"

namespace ticketd::stream {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using http::sse::CloseReason;

namespace {

constexpr std::chrono::milliseconds kLoadRetry{1'000};
// While the Redis link is down nothing announces other instances' changes: a client joining a
// feed whose read is older than this makes it read again (the seat-map cache's unlinked TTL).
constexpr std::chrono::milliseconds kUnlinkedMaxAge{500};

void log_failure(std::string_view what, const std::exception_ptr& e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    core::log::error(what, {{"error", ex.what()}});
  }
}

}  // namespace

Fanout::Fanout(const asio::any_io_executor& executor, events::Service& events, realtime::Hub& hub,
               Settings settings, core::metrics::Registry& metrics)
    : executor_(executor),
      events_(events),
      hub_(hub),
      settings_(settings),
      metrics_{
          metrics.gauge("ticketd_sse_streams_open", "Open SSE streams (live seat maps)").get(),
          metrics
              .gauge("ticketd_sse_feeds",
                     "Events with a live seat-map feed (and a Redis subscription) here")
              .get(),
          metrics.counter("ticketd_sse_frames_total",
                          "Messages queued to SSE clients (each serialized once per feed)",
                          {"event"}),
          metrics
              .counter("ticketd_sse_slow_clients_dropped_total",
                       "SSE clients cut off because their queue passed SSE_CLIENT_QUEUE_MAX or a "
                       "write timed out")
              .get(),
          metrics.counter("ticketd_sse_streams_closed_total", "Ended SSE streams by cause",
                          {"reason"}),
          metrics.counter("ticketd_sse_streams_rejected_total",
                          "SSE streams refused by the per-address or per-instance limit",
                          {"reason"}),
          metrics
              .histogram("ticketd_sse_delivery_lag_seconds",
                         "From a seat change's announcement (its version) to its fan-out here")
              .get(),
          metrics
              .counter("ticketd_sse_feed_loads_total",
                       "Seat reads by live feeds (first client, Redis link back, new seats)")
              .get(),
      },
      heartbeat_timer_(executor) {}

void Fanout::share_caps(ratelimit::StreamLeases& leases) {
  leases_ = &leases;
  lease_prefix_ = core::new_uuid() + ":";
}

Fanout::~Fanout() {
  std::lock_guard lock(mutex_);
  for (auto& [id, feed] : feeds_) feed->stop(CloseReason::kShutdown);
  feeds_.clear();
}

void Fanout::start() {
  std::weak_ptr<Fanout> weak = weak_from_this();
  hub_.on_state([weak](bool up) {
    if (auto self = weak.lock()) self->on_link(up);
  });
  asio::co_spawn(executor_, heartbeat_loop(),
                 [](const std::exception_ptr& e) { log_failure("sse heartbeats failed", e); });
}

asio::awaitable<void> Fanout::async_stop() {
  std::unordered_map<std::string, std::shared_ptr<Feed>> feeds;
  std::vector<ratelimit::StreamLease> leases;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    feeds.swap(feeds_);
    // Given back here, before the Redis client stops, not one by one as the streams close.
    for (auto& [id, lease] : live_leases_) leases.push_back(std::move(lease));
    live_leases_.clear();
  }
  asio::post(heartbeat_timer_.get_executor(),
             [self = shared_from_this()] { self->heartbeat_timer_.cancel(); });
  for (auto& [id, feed] : feeds) feed->stop(CloseReason::kShutdown);
  metrics_.feeds.set(0);
  if (leases.empty()) co_return;
  try {
    co_await leases_->give_back(std::move(leases));
  } catch (const std::exception& e) {
    core::log::warn("sse stream leases not given back; they lapse", {{"error", e.what()}});
  }
}

std::size_t Fanout::open_streams() const {
  std::lock_guard lock(mutex_);
  return open_;
}

void Fanout::on_link(bool up) {
  if (!up) return;  // streams keep their heartbeats; updates resume with a fresh snapshot
  std::vector<std::shared_ptr<Feed>> feeds;
  {
    std::lock_guard lock(mutex_);
    for (auto& [id, f] : feeds_) feeds.push_back(f);
  }
  for (auto& f : feeds) request_load(f);
}

void Fanout::request_load(const std::shared_ptr<Feed>& feed) {
  if (!feed->want_load()) return;
  auto f = feed;
  asio::co_spawn(executor_, load_loop(std::move(f)),
                 [](const std::exception_ptr& e) { log_failure("sse feed reader failed", e); });
}

asio::awaitable<void> Fanout::load_loop(std::shared_ptr<Feed> feed) {
  auto ex = co_await asio::this_coro::executor;
  while (feed->begin_load()) {
    // Started after the subscription was confirmed: every change not in this read reaches the
    // feed as an update (buffered until the read is installed).
    const auto not_before = Clock::now();
    std::shared_ptr<const events::Snapshot> snapshot;
    bool failed = false;
    try {
      std::string id = feed->event_id();
      snapshot = co_await events_.live_snapshot(std::move(id), not_before);
    } catch (const std::exception& e) {
      failed = true;
      core::log::warn("live seat map read failed",
                      {{"eventId", feed->event_id()}, {"error", e.what()}});
    }
    metrics_.loads.inc();
    if (failed) {
      feed->load_failed();
      asio::steady_timer pause(ex);
      pause.expires_after(kLoadRetry);
      co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    feed->install(snapshot);
  }
}

asio::awaitable<void> Fanout::heartbeat_loop() {
  for (;;) {
    heartbeat_timer_.expires_after(settings_.heartbeat);
    co_await heartbeat_timer_.async_wait(asio::as_tuple(asio::use_awaitable));
    std::vector<std::shared_ptr<Feed>> feeds;
    {
      std::lock_guard lock(mutex_);
      if (stopping_) co_return;
      feeds.reserve(feeds_.size());
      for (auto& [id, f] : feeds_) feeds.push_back(f);
    }
    const bool linked = hub_.connected();
    for (auto& f : feeds) f->heartbeat(linked);
    if (leases_ != nullptr) co_await renew_leases();
  }
}

asio::awaitable<void> Fanout::renew_leases() {
  std::vector<ratelimit::StreamLease> live;
  {
    std::lock_guard lock(mutex_);
    live.reserve(live_leases_.size());
    for (const auto& [id, lease] : live_leases_) live.push_back(lease);
  }
  if (live.empty()) co_return;
  try {
    co_await leases_->renew(std::move(live));
  } catch (const std::exception& e) {
    // Not renewed: they lapse, and this instance's own caps still hold.
    core::log::warn("sse stream leases not renewed", {{"error", e.what()}});
  }
}

asio::awaitable<void> Fanout::take_lease(Viewer& viewer) {
  const int cap_ip = settings_.max_streams_per_ip;
  const int cap_user = settings_.max_streams_per_user;
  if (leases_ == nullptr || (cap_ip <= 0 && cap_user <= 0)) co_return;
  ratelimit::StreamLease lease;
  {
    std::lock_guard lock(mutex_);
    lease = ratelimit::StreamLease{lease_prefix_ + std::to_string(next_lease_++), viewer.ip,
                                   viewer.user_id};
  }
  bool taken = false;
  bool answered = false;
  try {
    ratelimit::StreamLease copy = lease;
    taken = co_await leases_->take(std::move(copy), cap_ip, cap_user);
    answered = true;
  } catch (const std::exception& e) {
    core::log::warn("sse stream caps counted on this instance only", {{"error", e.what()}});
  }
  if (!answered) co_return;
  if (!taken) {
    metrics_.rejected.with({"shared"}).inc();
    throw core::ApiError(core::ErrorKind::kRateLimited, "TOO_MANY_STREAMS",
                         "Too many live streams from this address or for this user")
        .with_retry_after(5);
  }
  viewer.lease = lease.id;
  std::lock_guard lock(mutex_);
  live_leases_.emplace(lease.id, std::move(lease));
}

asio::awaitable<void> Fanout::give_back_lease(ratelimit::StreamLease lease) {
  try {
    std::vector<ratelimit::StreamLease> one{std::move(lease)};
    co_await leases_->give_back(std::move(one));
  } catch (const std::exception& e) {
    core::log::warn("sse stream lease not given back; it lapses", {{"error", e.what()}});
  }
}

asio::awaitable<std::shared_ptr<http::sse::Stream>> Fanout::open(std::string event_id,
                                                                 Viewer viewer) {
  auto canonical = core::canonical_uuid(event_id);
  if (!canonical) throw core::not_found("Event");
  event_id = std::move(*canonical);
  take_slot(viewer);
  // The slot is released by the stream's close handler once attached, or here before that.
  std::shared_ptr<const events::Snapshot> current;
  try {
    co_await take_lease(viewer);
    std::string id = event_id;
    const Clock::time_point any{};
    current = co_await events_.live_snapshot(std::move(id), any);
  } catch (...) {
    give_back_slot(viewer);
    throw;
  }
  if (!current || current->event().status != "PUBLISHED") {
    give_back_slot(viewer);
    throw core::not_found("Event");
  }
  http::sse::Limits limits;
  limits.max_queued = settings_.client_queue_max;
  limits.write_timeout = settings_.write_timeout;
  auto stream = http::sse::Stream::create(limits);
  auto [feed, created] = attach(event_id, viewer, stream);
  if (created) {
    // Read the seats once Redis confirmed the subscription; right away if the link is down
    // (then again when it is back, see on_link).
    std::weak_ptr<Fanout> weak_self = weak_from_this();
    std::weak_ptr<Feed> weak_feed = feed;
    hub_.when_subscribed(event_id, [weak_self, weak_feed] {
      auto self = weak_self.lock();
      auto f = weak_feed.lock();
      if (self && f) self->request_load(f);
    });
    if (!hub_.connected()) request_load(feed);
  } else if (!hub_.connected() && feed->older_than(kUnlinkedMaxAge)) {
    // Unlinked: what the feed holds may miss other instances' changes; read again.
    request_load(feed);
  }
  co_return stream;
}

void Fanout::take_slot(const Viewer& viewer) {
  using core::ApiError;
  using core::ErrorKind;
  std::lock_guard lock(mutex_);
  if (stopping_ || open_ >= static_cast<std::size_t>(settings_.max_streams)) {
    metrics_.rejected.with({"instance"}).inc();
    throw ApiError(ErrorKind::kUnavailable, "TOO_MANY_STREAMS",
                   "This server has as many live streams as it takes; retry later")
        .with_retry_after(5);
  }
  const int cap_ip = settings_.max_streams_per_ip;
  const int cap_user = settings_.max_streams_per_user;
  auto& by_ip = per_ip_[viewer.ip];
  if (cap_ip > 0 && by_ip >= cap_ip) {
    metrics_.rejected.with({"address"}).inc();
    throw ApiError(ErrorKind::kRateLimited, "TOO_MANY_STREAMS",
                   "Too many live streams from this address")
        .with_retry_after(5);
  }
  if (!viewer.user_id.empty()) {
    auto& by_user = per_user_[viewer.user_id];
    if (cap_user > 0 && by_user >= cap_user) {
      metrics_.rejected.with({"user"}).inc();
      if (by_ip == 0) per_ip_.erase(viewer.ip);
      throw ApiError(ErrorKind::kRateLimited, "TOO_MANY_STREAMS",
                     "Too many live streams for this user")
          .with_retry_after(5);
    }
    ++by_user;
  }
  ++by_ip;
  ++open_;
  metrics_.open.inc();
}

void Fanout::give_back_slot(const Viewer& viewer) {
  std::optional<ratelimit::StreamLease> lease;
  {
    std::lock_guard lock(mutex_);
    if (auto it = per_ip_.find(viewer.ip); it != per_ip_.end() && --it->second <= 0) {
      per_ip_.erase(it);
    }
    if (auto it = per_user_.find(viewer.user_id); it != per_user_.end() && --it->second <= 0) {
      per_user_.erase(it);  // anonymous viewers have no entry: find("") finds nothing
    }
    --open_;
    metrics_.open.dec();
    if (auto it = live_leases_.find(viewer.lease); it != live_leases_.end()) {
      lease = std::move(it->second);
      live_leases_.erase(it);
    }
  }
  // Outside the lock: the Redis call runs on its own.
  if (lease) asio::co_spawn(executor_, give_back_lease(std::move(*lease)), asio::detached);
}

std::pair<std::shared_ptr<Feed>, bool> Fanout::attach(
    const std::string& event_id, const Viewer& viewer,
    const std::shared_ptr<http::sse::Stream>& stream) {
  std::lock_guard lock(mutex_);
  const std::uint64_t client = next_client_++;
  auto& slot = feeds_[event_id];
  const bool created = !slot;
  if (created) {
    slot = std::make_shared<Feed>(event_id, metrics_);
    std::weak_ptr<Feed> weak_feed = slot;
    std::weak_ptr<Fanout> weak_self = weak_from_this();
    slot->set_watch(hub_.watch(event_id, [weak_feed, weak_self](std::string_view payload) {
      auto f = weak_feed.lock();
      if (!f || !f->on_message(payload)) return;
      if (auto self = weak_self.lock()) self->request_load(f);
    }));
    metrics_.feeds.set(static_cast<double>(feeds_.size()));
  }
  std::shared_ptr<Feed> feed = slot;
  std::weak_ptr<Fanout> weak_self = weak_from_this();
  stream->on_close([weak_self, event_id, client, viewer](CloseReason why) {
    if (auto self = weak_self.lock()) self->release(event_id, client, viewer, why);
  });
  feed->add(client, stream);
  return {std::move(feed), created};
}

void Fanout::release(const std::string& event_id, std::uint64_t client, const Viewer& viewer,
                     CloseReason why) {
  metrics_.closed.with({http::sse::to_string(why)}).inc();
  if (why == CloseReason::kSlow || why == CloseReason::kWriteTimeout) {
    metrics_.slow_dropped.inc();
    core::log::info(
        "slow sse client dropped",
        {{"eventId", event_id}, {"reason", http::sse::to_string(why)}, {"ip", viewer.ip}});
  }
  give_back_slot(viewer);
  std::shared_ptr<Feed> idle;
  {
    std::lock_guard lock(mutex_);
    auto it = feeds_.find(event_id);
    if (it != feeds_.end() && it->second->remove(client)) {
      idle = std::move(it->second);
      feeds_.erase(it);
      metrics_.feeds.set(static_cast<double>(feeds_.size()));
    }
  }
  // Outside the lock: dropping the watch may unsubscribe from Redis.
  if (idle) idle->stop(CloseReason::kEnded);
}

}  // namespace ticketd::stream
