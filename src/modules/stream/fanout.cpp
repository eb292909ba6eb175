#include "modules/stream/fanout.hpp"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <cctype>
#include <optional>
#include <string_view>
#include <vector>

#include "core/errors.hpp"
#include "core/ids.hpp"
#include "core/json.hpp"
#include "core/log.hpp"
#include "core/time.hpp"

namespace ticketd::stream {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using http::sse::CloseReason;
using http::sse::Frame;

namespace {

// Updates that arrive while a feed reads its seats wait in memory; past this many the read is
// repeated instead (the next one starts later, so it includes them).
constexpr std::size_t kMaxPending = 10'000;
constexpr std::chrono::milliseconds kLoadRetry{1'000};
// While the Redis link is down nothing announces other instances' changes: a client joining a
// feed whose read is older than this makes it read again (the seat-map cache's unlinked TTL).
constexpr std::chrono::milliseconds kUnlinkedMaxAge{500};

std::int64_t epoch_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void log_failure(std::string_view what, const std::exception_ptr& e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    core::log::error(what, {{"error", ex.what()}});
  }
}

struct SeatUpdate {
  std::string id;
  std::string status;
  std::optional<std::string> reserved_until;
};

// One announcement of the event's channel, parsed once per instance.
struct Change {
  enum Kind { kSeats, kReload, kIgnore } kind = kIgnore;
  std::int64_t version = 0;
  std::vector<SeatUpdate> seats;
  std::string data;  // the seat.updated payload sent to clients
};

std::optional<std::string> text_of(const boost::json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || !it->value().is_string()) return std::nullopt;
  return std::string(it->value().get_string());
}

// Announcements come from events::Service (seats_changed: holds, releases, sales; announce:
// staff changes). Seat changes become seat.updated messages with SPEC §7's shape; changes that
// add seats or alter the event (status) make the feed read everything again.
Change parse_change(std::string_view payload, const std::string& event_id) {
  Change c;
  boost::system::error_code ec;
  auto v = boost::json::parse(payload, ec);
  if (ec || !v.is_object()) return c;
  const auto& o = v.get_object();
  const auto type = text_of(o, "type").value_or("");
  if (type == "seats.added" || type == "event.updated") {
    c.kind = Change::kReload;
    return c;
  }
  auto seats = o.find("seats");
  if (seats == o.end() || !seats->value().is_array() || seats->value().get_array().empty()) {
    return c;
  }
  c.version = epoch_ms();
  if (auto ver = o.find("version"); ver != o.end() && ver->value().is_int64()) {
    c.version = ver->value().get_int64();
  }
  std::string& d = c.data;
  d.reserve(128 + 120 * seats->value().get_array().size());
  d += R"({"eventId":)";
  core::json::append_quoted(d, event_id);
  d += R"(,"version":)";
  d += std::to_string(c.version);
  d += R"(,"type":)";
  core::json::append_quoted(d, type);
  if (auto rid = text_of(o, "reservationId"); rid && !rid->empty()) {
    d += R"(,"reservationId":)";
    core::json::append_quoted(d, *rid);
  }
  d += R"(,"seats":[)";
  for (const auto& item : seats->value().get_array()) {
    if (!item.is_object()) continue;
    const auto& s = item.get_object();
    auto id = text_of(s, "id");
    auto status = text_of(s, "status");
    if (!id || !status) continue;
    SeatUpdate u{std::move(*id), std::move(*status), text_of(s, "reservedUntil")};
    if (!c.seats.empty()) d += ',';
    d += R"({"id":)";
    core::json::append_quoted(d, u.id);
    d += R"(,"status":)";
    core::json::append_quoted(d, u.status);
    d += R"(,"reservedUntil":)";
    core::json::append_quoted_or_null(d, u.reserved_until);
    d += '}';
    c.seats.push_back(std::move(u));
  }
  d += "]}";
  if (!c.seats.empty()) c.kind = Change::kSeats;
  return c;
}

}  // namespace

// One event's live seat map on this instance. Every method is thread-safe; frames are queued
// to clients under the feed's lock so that snapshot and updates reach each client in order.
class Feed {
 public:
  Feed(std::string event_id, Fanout::Metrics& metrics)
      : event_id_(std::move(event_id)), metrics_(metrics) {}

  const std::string& event_id() const noexcept { return event_id_; }

  void set_watch(std::shared_ptr<realtime::Hub::Watch> watch) {
    std::lock_guard lock(mutex_);
    watch_ = std::move(watch);
  }

  // Ends every stream and drops the subscription; nothing reaches a client afterwards.
  void stop(CloseReason why) {
    std::shared_ptr<realtime::Hub::Watch> watch;
    std::map<std::uint64_t, Client> clients;
    {
      std::lock_guard lock(mutex_);
      stopped_ = true;
      watch = std::move(watch_);
      clients.swap(clients_);
      pending_.clear();
    }
    for (auto& [id, c] : clients) c.stream->close(why);
  }

  void add(std::uint64_t id, std::shared_ptr<http::sse::Stream> stream) {
    std::lock_guard lock(mutex_);
    if (stopped_) {
      stream->close(CloseReason::kEnded);
      return;
    }
    if (live_) {
      auto f = snapshot_locked();
      if (!stream->push(f)) return;
      metrics_.frames.with({"snapshot"}).inc();
    }
    clients_.emplace(id, Client{std::move(stream)});
  }

  // True when no client is left.
  bool remove(std::uint64_t id) {
    std::lock_guard lock(mutex_);
    clients_.erase(id);
    return clients_.empty();
  }

  // From the hub (its strand). Returns true when the feed wants a fresh read of its seats.
  bool on_message(std::string_view payload) {
    Change c = parse_change(payload, event_id_);
    if (c.kind == Change::kReload) return true;
    if (c.kind != Change::kSeats) return false;
    metrics_.lag.observe(static_cast<double>(std::max<std::int64_t>(0, epoch_ms() - c.version)) /
                         1000.0);
    std::lock_guard lock(mutex_);
    if (stopped_) return false;
    if (loading_) {
      // Read in progress: folded into its result, so none is lost and none is sent twice.
      if (pending_.size() >= kMaxPending) {
        pending_.clear();
        reload_ = true;
        return false;
      }
      pending_.push_back(std::move(c));
      return false;
    }
    if (!live_) return false;  // not read yet: the first read includes it
    apply_locked(c);
    last_id_ = std::max(last_id_ + 1, c.version);
    auto f = http::sse::frame("seat.updated", std::to_string(last_id_), c.data);
    broadcast_locked(f, "seat.updated");
    return false;
  }

  void heartbeat(bool linked) {
    std::lock_guard lock(mutex_);
    if (stopped_ || clients_.empty()) return;
    std::string data = R"({"eventId":)";
    core::json::append_quoted(data, event_id_);
    data +=
        R"(,"time":")" + core::iso8601_now() + R"(","live":)" + (linked ? "true" : "false") + "}";
    auto f = http::sse::frame("heartbeat", last_id_ > 0 ? std::to_string(last_id_) : "0", data);
    broadcast_locked(f, "heartbeat");
  }

  // True when the last installed read is older than `age` (or there is none).
  bool older_than(Clock::duration age) const {
    std::lock_guard lock(mutex_);
    return !live_ || Clock::now() - installed_at_ > age;
  }

  // Asks for a fresh read. True when the caller must start the reader (none runs).
  bool want_load() {
    std::lock_guard lock(mutex_);
    if (stopped_) return false;
    reload_ = true;
    if (reading_) return false;
    reading_ = true;
    return true;
  }

  // The reader takes a request: true to read now (updates are buffered from here on), false
  // when nothing is asked any more (the reader ends).
  bool begin_load() {
    std::lock_guard lock(mutex_);
    if (stopped_ || !reload_) {
      reading_ = false;
      return false;
    }
    reload_ = false;
    loading_ = true;
    pending_.clear();  // all of them committed before this read starts
    return true;
  }

  void load_failed() {
    std::lock_guard lock(mutex_);
    reload_ = true;
    loading_ = false;
    pending_.clear();
  }

  // Installs a read: the statuses become `snapshot`'s plus what arrived meanwhile, and every
  // client gets the new snapshot. An event that is gone or no longer published ends them.
  void install(const std::shared_ptr<const events::Snapshot>& snapshot) {
    std::lock_guard lock(mutex_);
    loading_ = false;
    if (stopped_) return;
    if (!snapshot || snapshot->event().status != "PUBLISHED") {
      pending_.clear();
      for (auto& [id, c] : clients_) c.stream->close(CloseReason::kEnded);
      clients_.clear();
      live_ = false;
      return;
    }
    const std::size_t n = snapshot->seat_count();
    seats_.clear();
    seats_.reserve(n);
    index_.clear();
    index_.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      seats_.push_back(SeatUpdate{snapshot->seat_id(i), std::string(snapshot->seat_status(i)),
                                  snapshot->reserved_until(i)});
    }
    for (std::size_t i = 0; i < n; ++i) index_.emplace(seats_[i].id, i);
    last_id_ = std::max(last_id_ + 1, epoch_ms());
    seat_nos_.clear();
    seat_nos_.reserve(n);
    for (std::size_t i = 0; i < n; ++i) seat_nos_.push_back(snapshot->seat_no(i));
    for (const auto& c : pending_) {
      apply_locked(c);
      last_id_ = std::max(last_id_ + 1, c.version);
    }
    pending_.clear();
    live_ = true;
    installed_at_ = Clock::now();
    snapshot_.reset();
    auto f = snapshot_locked();
    broadcast_locked(f, "snapshot");
  }

 private:
  struct Client {
    std::shared_ptr<http::sse::Stream> stream;
  };

  void apply_locked(const Change& c) {
    for (const auto& u : c.seats) {
      auto it = index_.find(u.id);
      if (it == index_.end()) continue;
      auto& s = seats_[it->second];
      s.status = u.status;
      s.reserved_until = u.reserved_until;
    }
    version_ = std::max(version_, c.version);
    snapshot_.reset();
  }

  // {eventId, version, seats: [{id, seatNo, status, reservedUntil}]}, rendered once per state.
  Frame snapshot_locked() {
    if (snapshot_) return snapshot_;
    std::string d;
    d.reserve(64 + seats_.size() * 110);
    d += R"({"eventId":)";
    core::json::append_quoted(d, event_id_);
    d += R"(,"version":)";
    d += std::to_string(std::max(version_, last_id_));
    d += R"(,"seats":[)";
    for (std::size_t i = 0; i < seats_.size(); ++i) {
      const auto& s = seats_[i];
      if (i > 0) d += ',';
      d += R"({"id":)";
      core::json::append_quoted(d, s.id);
      d += R"(,"seatNo":)";
      core::json::append_quoted(d, seat_nos_[i]);
      d += R"(,"status":)";
      core::json::append_quoted(d, s.status);
      d += R"(,"reservedUntil":)";
      core::json::append_quoted_or_null(d, s.reserved_until);
      d += '}';
    }
    d += "]}";
    snapshot_ = http::sse::frame("snapshot", std::to_string(last_id_), d);
    return snapshot_;
  }

  // The same buffer to every client; a client that cannot take it (closed, or its queue is
  // full: it is cut off) leaves the feed, the others are unaffected.
  void broadcast_locked(const Frame& f, std::string_view kind) {
    std::size_t delivered = 0;
    for (auto it = clients_.begin(); it != clients_.end();) {
      if (it->second.stream->push(f)) {
        ++delivered;
        ++it;
      } else {
        it = clients_.erase(it);
      }
    }
    metrics_.frames.with({kind}).inc(static_cast<double>(delivered));
  }

  const std::string event_id_;
  Fanout::Metrics& metrics_;
  mutable std::mutex mutex_;
  bool stopped_ = false;
  bool live_ = false;  // seats_ holds a read (plus the updates since)
  Clock::time_point installed_at_;
  bool reading_ = false;  // a reader coroutine runs
  bool loading_ = false;  // a read is in flight: updates go to pending_
  bool reload_ = false;   // a (new) read is wanted
  std::shared_ptr<realtime::Hub::Watch> watch_;
  std::map<std::uint64_t, Client> clients_;
  std::vector<SeatUpdate> seats_;
  std::vector<std::string> seat_nos_;
  std::unordered_map<std::string_view, std::size_t> index_;  // views into seats_[i].id
  std::vector<Change> pending_;
  std::int64_t version_ = 0;
  std::int64_t last_id_ = 0;  // the `id:` of the latest message (strictly increasing)
  Frame snapshot_;
};

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
                 [](std::exception_ptr e) { log_failure("sse heartbeats failed", e); });
}

asio::awaitable<void> Fanout::async_stop() {
  std::unordered_map<std::string, std::shared_ptr<Feed>> feeds;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    feeds.swap(feeds_);
  }
  asio::post(heartbeat_timer_.get_executor(),
             [self = shared_from_this()] { self->heartbeat_timer_.cancel(); });
  for (auto& [id, feed] : feeds) feed->stop(CloseReason::kShutdown);
  metrics_.feeds.set(0);
  co_return;
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
                 [](std::exception_ptr e) { log_failure("sse feed reader failed", e); });
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
  }
}

asio::awaitable<std::shared_ptr<http::sse::Stream>> Fanout::open(std::string event_id,
                                                                 std::string remote_ip) {
  using core::ApiError;
  using core::ErrorKind;
  auto canonical = core::canonical_uuid(event_id);
  if (!canonical) throw core::not_found("Event");
  event_id = std::move(*canonical);
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || open_ >= static_cast<std::size_t>(settings_.max_streams)) {
      metrics_.rejected.with({"instance"}).inc();
      throw ApiError(ErrorKind::kUnavailable, "TOO_MANY_STREAMS",
                     "This server has as many live streams as it takes; retry later")
          .with_retry_after(5);
    }
    auto& mine = per_ip_[remote_ip];
    if (mine >= settings_.max_streams_per_ip) {
      metrics_.rejected.with({"address"}).inc();
      throw ApiError(ErrorKind::kRateLimited, "TOO_MANY_STREAMS",
                     "Too many live streams from this address")
          .with_retry_after(5);
    }
    ++mine;
    ++open_;
    metrics_.open.inc();
  }
  // The slot is released by the stream's close handler from here on, or right here.
  bool handed_over = false;
  std::uint64_t client = 0;
  auto give_back = [&] {
    if (handed_over) return;
    std::lock_guard lock(mutex_);
    if (--per_ip_[remote_ip] <= 0) per_ip_.erase(remote_ip);
    --open_;
    metrics_.open.dec();
  };
  std::shared_ptr<const events::Snapshot> current;
  try {
    std::string id = event_id;
    const Clock::time_point any{};
    current = co_await events_.live_snapshot(std::move(id), any);
  } catch (...) {
    give_back();
    throw;
  }
  if (!current || current->event().status != "PUBLISHED") {
    give_back();
    throw core::not_found("Event");
  }

  http::sse::Limits limits;
  limits.max_queued = settings_.client_queue_max;
  limits.write_timeout = settings_.write_timeout;
  auto stream = http::sse::Stream::create(limits);
  std::shared_ptr<Feed> feed;
  bool created = false;
  {
    std::lock_guard lock(mutex_);
    client = next_client_++;
    auto& slot = feeds_[event_id];
    if (!slot) {
      slot = std::make_shared<Feed>(event_id, metrics_);
      created = true;
      std::weak_ptr<Feed> weak_feed = slot;
      std::weak_ptr<Fanout> weak_self = weak_from_this();
      slot->set_watch(hub_.watch(event_id, [weak_feed, weak_self](std::string_view payload) {
        auto f = weak_feed.lock();
        if (!f || !f->on_message(payload)) return;
        if (auto self = weak_self.lock()) self->request_load(f);
      }));
      metrics_.feeds.set(static_cast<double>(feeds_.size()));
    }
    feed = slot;
    std::weak_ptr<Fanout> weak_self = weak_from_this();
    stream->on_close([weak_self, event_id, client, remote_ip](CloseReason why) {
      if (auto self = weak_self.lock()) self->release(event_id, client, remote_ip, why);
    });
    handed_over = true;
    feed->add(client, stream);
  }
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

void Fanout::release(const std::string& event_id, std::uint64_t client, const std::string& ip,
                     CloseReason why) {
  metrics_.closed.with({http::sse::to_string(why)}).inc();
  if (why == CloseReason::kSlow || why == CloseReason::kWriteTimeout) {
    metrics_.slow_dropped.inc();
    core::log::info("slow sse client dropped",
                    {{"eventId", event_id}, {"reason", http::sse::to_string(why)}, {"ip", ip}});
  }
  std::shared_ptr<Feed> idle;
  {
    std::lock_guard lock(mutex_);
    if (auto it = per_ip_.find(ip); it != per_ip_.end() && --it->second <= 0) per_ip_.erase(it);
    --open_;
    metrics_.open.dec();
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
