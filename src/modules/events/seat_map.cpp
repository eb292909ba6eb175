#include "modules/events/seat_map.hpp"

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace ticketd::events {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

// While the realtime link is down, other instances' changes go unannounced: snapshots then live
// at most this long.
constexpr std::chrono::milliseconds kUnlinkedTtl{500};

}  // namespace

// One load in progress; later readers of the same generation wait for it.
struct SeatMapCache::Flight {
  std::mutex mutex;
  bool done = false;
  std::shared_ptr<const Snapshot> result;
  std::exception_ptr error;
  std::vector<std::function<void()>> waiters;

  void finish(std::shared_ptr<const Snapshot> r, std::exception_ptr e) {
    std::vector<std::function<void()>> ready;
    {
      std::lock_guard lock(mutex);
      done = true;
      result = std::move(r);
      error = std::move(e);
      ready.swap(waiters);
    }
    for (auto& w : ready) w();
  }
};

SeatMapCache::SeatMapCache(Repository& repo, realtime::Hub& hub, Options options,
                           core::metrics::Registry& metrics)
    : repo_(repo),
      hub_(hub),
      options_(options),
      hits_(metrics
                .counter("ticketd_seatmap_cache_requests_total",
                         "Seat-map snapshot lookups by outcome", {"outcome"})
                .with({"hit"})),
      loads_(
          metrics.counter("ticketd_seatmap_cache_requests_total", "", {"outcome"}).with({"load"})),
      joins_(metrics.counter("ticketd_seatmap_cache_requests_total", "", {"outcome"})
                 .with({"joined"})),
      stale_hits_(
          metrics.counter("ticketd_seatmap_cache_requests_total", "", {"outcome"}).with({"stale"})),
      invalidations_(metrics
                         .counter("ticketd_seatmap_cache_invalidations_total",
                                  "Seat-map snapshots invalidated by a change")
                         .get()),
      load_seconds_(metrics
                        .histogram("ticketd_seatmap_load_seconds",
                                   "Time to read and render an event's seat map")
                        .get()) {
  hub_up_ = hub_.connected();
  hub_.on_state([this](bool up) {
    {
      std::lock_guard lock(mutex_);
      hub_up_ = up;
    }
    // Down: changes may go unannounced from now on. Up: some may have been missed meanwhile.
    invalidate_all();
  });
}

SeatMapCache::~SeatMapCache() {
  std::lock_guard lock(mutex_);
  entries_.clear();  // drops the watches before the hub goes
}

SeatMapCache::Entry& SeatMapCache::entry_locked(const std::string& event_id) {
  auto it = entries_.find(event_id);
  if (it != entries_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    return it->second;
  }
  while (entries_.size() >= options_.max_events && !lru_.empty()) {
    entries_.erase(lru_.back());
    lru_.pop_back();
  }
  lru_.push_front(event_id);
  auto& e = entries_[event_id];
  e.lru = lru_.begin();
  e.watch = hub_.watch(event_id, [this, event_id](std::string_view payload) {
    // This instance's own announcements were applied before they were published.
    if (payload.find(hub_.instance_id()) != std::string_view::npos) return;
    invalidate(event_id);
  });
  return e;
}

void SeatMapCache::invalidate(const std::string& event_id) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(event_id);
  if (it == entries_.end()) return;
  ++it->second.generation;
  it->second.snapshot.reset();
  invalidations_.inc();
}

void SeatMapCache::invalidate_all() {
  std::lock_guard lock(mutex_);
  for (auto& [id, e] : entries_) {
    ++e.generation;
    e.snapshot.reset();
  }
}

asio::awaitable<std::shared_ptr<const Snapshot>> SeatMapCache::get(std::string event_id) {
  const Clock::time_point any{};
  auto snapshot = co_await get_since(std::move(event_id), any);
  co_return snapshot;
}

asio::awaitable<std::shared_ptr<const Snapshot>> SeatMapCache::get_since(
    std::string event_id, Clock::time_point not_before) {
  std::shared_ptr<Flight> flight;
  std::shared_ptr<const Snapshot> hit;
  bool leader = false;
  bool stale = false;
  std::uint64_t generation = 0;
  {
    std::lock_guard lock(mutex_);
    auto& e = entry_locked(event_id);
    // TTL 0 turns reuse off: every read loads (concurrent reads still share one load).
    const bool current = e.snapshot && e.snapshot_generation == e.generation &&
                         options_.ttl.count() > 0 && e.snapshot->loaded_at() >= not_before;
    if (current && e.snapshot->fresh(Clock::now())) {
      hit = e.snapshot;
    } else if (e.flight && e.flight_generation == e.generation && e.flight_started >= not_before) {
      flight = e.flight;
    } else {
      flight = std::make_shared<Flight>();
      e.flight = flight;
      e.flight_generation = e.generation;
      e.flight_started = Clock::now();
      generation = e.generation;
      leader = true;
    }
    // Only aged (no change announced since it was read): keep serving it while one reader
    // refreshes it in the background, instead of making every reader wait for the load.
    if (!hit && current) {
      hit = e.snapshot;
      stale = true;
    }
  }
  if (stale && leader) {
    auto ex = co_await asio::this_coro::executor;
    // A copy of the flight: readers that join below still need it.
    asio::co_spawn(ex, load(event_id, flight, generation), asio::detached);
  }
  if (hit) {
    (stale ? stale_hits_ : hits_).inc();
    co_return hit;
  }
  if (leader) {
    auto loaded = co_await load(std::move(event_id), std::move(flight), generation);
    co_return loaded;
  }
  joins_.inc();
  // Named, not a temporary inside co_await (GCC 12; see README).
  auto initiation = [flight](auto handler) {
    auto ex = asio::get_associated_executor(handler);
    auto h = std::make_shared<decltype(handler)>(std::move(handler));
    std::function<void()> resume = [ex, h]() { asio::post(ex, [h]() { (*h)(); }); };
    std::unique_lock lock(flight->mutex);
    if (flight->done) {
      lock.unlock();
      resume();
      return;
    }
    flight->waiters.push_back(std::move(resume));
  };
  co_await asio::async_initiate<const asio::use_awaitable_t<>&, void()>(std::move(initiation),
                                                                        asio::use_awaitable);
  if (flight->error) std::rethrow_exception(flight->error);
  co_return flight->result;
}

asio::awaitable<std::shared_ptr<const Snapshot>> SeatMapCache::load(std::string event_id,
                                                                    std::shared_ptr<Flight> flight,
                                                                    std::uint64_t generation) {
  std::shared_ptr<const Snapshot> snapshot;
  std::exception_ptr error;
  const auto start = Clock::now();
  bool linked = false;
  {
    std::lock_guard lock(mutex_);
    linked = hub_up_;
  }
  try {
    auto rows = co_await repo_.load_seat_map(event_id);
    if (rows) {
      auto valid_until = start + (linked ? options_.ttl : std::min(options_.ttl, kUnlinkedTtl));
      if (rows->next_expiry_ms) {
        valid_until =
            std::min(valid_until, start + std::chrono::milliseconds(*rows->next_expiry_ms));
      }
      snapshot = std::make_shared<const Snapshot>(std::move(*rows), start, valid_until);
    }
  } catch (...) {
    error = std::current_exception();
  }
  loads_.inc();
  load_seconds_.observe(std::chrono::duration<double>(Clock::now() - start).count());
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(event_id);
    if (it != entries_.end()) {
      auto& e = it->second;
      if (e.flight == flight) e.flight.reset();
      // Two loads of one generation may overlap (a live seat map asked for a newer one): keep
      // the one that started last.
      if (snapshot && e.generation == generation &&
          (!e.snapshot || e.snapshot->loaded_at() <= snapshot->loaded_at())) {
        e.snapshot = snapshot;
        e.snapshot_generation = generation;
      } else if (!snapshot && !error && !e.flight) {
        lru_.erase(e.lru);  // no such event: keep nothing (and no subscription) for it
        entries_.erase(it);
      }
    }
  }
  flight->finish(snapshot, error);
  if (error) std::rethrow_exception(error);
  co_return snapshot;
}

}  // namespace ticketd::events
