#include "modules/events/seat_map.hpp"

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>
#include <charconv>

#include "core/crypto.hpp"
#include "core/json.hpp"

namespace ticketd::events {

namespace asio = boost::asio;
using core::json::append_quoted;
using core::json::append_quoted_or_null;
using Clock = std::chrono::steady_clock;

namespace {

// While the realtime link is down, other instances' changes go unannounced: snapshots then live
// at most this long.
constexpr std::chrono::milliseconds kUnlinkedTtl{500};
constexpr std::size_t kMaxMemoizedPages = 256;

void append_int(std::string& out, std::int64_t v) {
  char buf[24];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, p);
}

void append_number(std::string& out, const std::optional<double>& v) {
  if (!v) {
    out += "null";
    return;
  }
  char buf[32];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, *v);
  out.append(buf, p);
}

void append_opt_int(std::string& out, const std::optional<std::int64_t>& v) {
  if (v) {
    append_int(out, *v);
  } else {
    out += "null";
  }
}

// The seat-map item of SPEC §4, rendered once per snapshot.
std::string render_seat(const Seat& s) {
  std::string o;
  o.reserve(420);
  o += R"({"id":)";
  append_quoted(o, s.id);
  o += R"(,"seatNo":)";
  append_quoted(o, s.label ? *s.label : std::to_string(s.seat_number));
  o += R"(,"seatNumber":)";
  append_int(o, s.seat_number);
  o += R"(,"seatCode":)";
  append_quoted(o, s.seat_code);
  o += R"(,"label":)";
  append_quoted_or_null(o, s.label);
  o += R"(,"section":)";
  append_quoted(o, s.section);
  o += R"(,"sectionId":)";
  append_quoted(o, s.section_id);
  o += R"(,"sectionCode":)";
  append_quoted(o, s.section_code);
  o += R"(,"row":)";
  append_quoted(o, s.row);
  o += R"(,"rowId":)";
  append_quoted(o, s.row_id);
  o += R"(,"status":)";
  append_quoted(o, s.status);
  o += R"(,"priceCents":)";
  append_opt_int(o, s.price_cents);
  o += R"(,"feesCents":)";
  append_opt_int(o, s.fees_cents);
  o += R"(,"ticketTypeId":)";
  append_quoted_or_null(o, s.ticket_type_id);
  o += R"(,"reservedUntil":)";
  append_quoted_or_null(o, s.reserved_until);
  o += R"(,"x":)";
  append_number(o, s.x);
  o += R"(,"y":)";
  append_number(o, s.y);
  o += '}';
  return o;
}

void add(Counts& c, unsigned bit) {
  ++c.total;
  if (bit == kAvailable) ++c.available;
  if (bit == kReserved) ++c.reserved;
  if (bit == kSold) ++c.sold;
  if (bit == kBlocked) ++c.blocked;
}

}  // namespace

unsigned status_bit(std::string_view status) noexcept {
  if (status == "AVAILABLE") return kAvailable;
  if (status == "RESERVED") return kReserved;
  if (status == "SOLD") return kSold;
  if (status == "BLOCKED") return kBlocked;
  return 0;
}

Snapshot::Snapshot(Repository::SeatMapRows rows, Clock::time_point loaded_at,
                   Clock::time_point valid_until)
    : event_(std::move(rows.event)),
      ticket_types_(std::move(rows.ticket_types)),
      loaded_at_(loaded_at),
      valid_until_(valid_until) {
  const std::size_t n = rows.seats.size();
  status_bits_.reserve(n);
  section_ids_.reserve(n);
  section_codes_.reserve(n);
  seat_ids_.reserve(n);
  seat_nos_.reserve(n);
  reserved_until_.reserve(n);
  fragments_.reserve(n);
  for (auto& s : rows.seats) {
    const unsigned bit = status_bit(s.status);
    add(counts_, bit);
    status_bits_.push_back(bit);
    fragments_.push_back(render_seat(s));
    seat_nos_.push_back(s.label ? *s.label : std::to_string(s.seat_number));
    reserved_until_.push_back(s.reserved_until);
    section_ids_.push_back(std::move(s.section_id));
    section_codes_.push_back(std::move(s.section_code));
    seat_ids_.push_back(std::move(s.id));
  }
  index_.reserve(n);
  for (std::size_t i = 0; i < n; ++i) index_.emplace(seat_ids_[i], i);
  for (const auto& t : ticket_types_) {
    if (t.kind != "GA") continue;
    counts_.total += t.counts.total;
    counts_.available += t.counts.available;
    counts_.reserved += t.counts.reserved;
    counts_.sold += t.counts.sold;
  }
  auto data = to_json(event_);
  data["availability"] = to_json(counts_);
  boost::json::array types;
  for (const auto& t : ticket_types_) types.push_back(to_json(t));
  data["ticketTypes"] = std::move(types);
  auto rendered = std::make_shared<Rendered>();
  rendered->data = boost::json::serialize(data);
  rendered->etag = core::weak_etag(rendered->data);
  details_ = std::move(rendered);
}

std::string_view Snapshot::seat_status(std::size_t i) const noexcept {
  switch (status_bits_[i]) {
    case kAvailable:
      return "AVAILABLE";
    case kReserved:
      return "RESERVED";
    case kSold:
      return "SOLD";
    case kBlocked:
      return "BLOCKED";
    default:
      return "UNKNOWN";
  }
}

std::shared_ptr<const Rendered> Snapshot::details() const {
  return details_;
}

std::shared_ptr<const Rendered> Snapshot::page(const SeatQuery& q) const {
  std::string key = std::to_string(q.statuses);
  key += '|';
  key += q.section.value_or("");
  key += '|';
  key += std::to_string(q.page);
  key += '|';
  key += std::to_string(q.limit);
  {
    std::lock_guard lock(memo_mutex_);
    auto it = memo_.find(key);
    if (it != memo_.end()) return it->second;
  }
  auto rendered = render_page(q);
  std::lock_guard lock(memo_mutex_);
  if (memo_.size() >= kMaxMemoizedPages) memo_.clear();
  memo_.emplace(std::move(key), rendered);
  return rendered;
}

std::shared_ptr<const Rendered> Snapshot::render_page(const SeatQuery& q) const {
  std::string code;
  if (q.section) {
    for (char c : *q.section) code += (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c;
  }
  const auto first = static_cast<std::size_t>((q.page - 1) * q.limit);
  const auto last = first + static_cast<std::size_t>(q.limit);
  auto out = std::make_shared<Rendered>();
  out->data = "[";
  std::size_t matched = 0;
  for (std::size_t i = 0; i < fragments_.size(); ++i) {
    if ((status_bits_[i] & q.statuses) == 0) continue;
    if (q.section && section_ids_[i] != *q.section && section_codes_[i] != code) continue;
    if (matched >= first && matched < last) {
      if (out->data.size() > 1) out->data += ',';
      out->data += fragments_[i];
    }
    ++matched;
  }
  out->data += ']';
  out->total = static_cast<std::int64_t>(matched);
  out->etag = core::weak_etag(out->data);
  return out;
}

std::string Snapshot::items(const std::vector<std::string>& seat_ids) const {
  std::string out = "[";
  for (const auto& id : seat_ids) {
    auto it = index_.find(id);
    if (it == index_.end()) continue;
    if (out.size() > 1) out += ',';
    out += fragments_[it->second];
  }
  out += ']';
  return out;
}

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
    asio::co_spawn(ex, load(event_id, std::move(flight), generation), asio::detached);
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
