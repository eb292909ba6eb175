#include "modules/stream/feed.hpp"

#include <algorithm>
#include <boost/json/parse.hpp>

#include "core/json.hpp"
#include "core/time.hpp"

namespace ticketd::stream {

using Clock = std::chrono::steady_clock;
using http::sse::CloseReason;
using http::sse::Frame;

namespace {

// Updates that arrive while a feed reads its seats wait in memory; past this many the read is
// repeated instead (the next one starts later, so it includes them).
constexpr std::size_t kMaxPending = 10'000;
std::int64_t epoch_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::optional<std::string> text_of(const boost::json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || !it->value().is_string()) return std::nullopt;
  return std::string(it->value().get_string());
}

// Announcements come from events::Service (seats_changed: holds, releases, sales; announce:
// staff changes). Seat changes become seat.updated messages in the shape the README shows ("Live
// seat maps (SSE)"); changes that add seats or alter the event (status) make the feed read
// everything again.
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

void Feed::set_watch(std::shared_ptr<realtime::Hub::Watch> watch) {
  std::lock_guard lock(mutex_);
  watch_ = std::move(watch);
}

void Feed::stop(CloseReason why) {
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

void Feed::add(std::uint64_t id, std::shared_ptr<http::sse::Stream> stream) {
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

bool Feed::remove(std::uint64_t id) {
  std::lock_guard lock(mutex_);
  clients_.erase(id);
  return clients_.empty();
}

bool Feed::on_message(std::string_view payload) {
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

void Feed::heartbeat(bool linked) {
  std::lock_guard lock(mutex_);
  if (stopped_ || clients_.empty()) return;
  std::string data = R"({"eventId":)";
  core::json::append_quoted(data, event_id_);
  data += R"(,"time":")" + core::iso8601_now() + R"(","live":)" + (linked ? "true" : "false") + "}";
  auto f = http::sse::frame("heartbeat", last_id_ > 0 ? std::to_string(last_id_) : "0", data);
  broadcast_locked(f, "heartbeat");
}

bool Feed::older_than(Clock::duration age) const {
  std::lock_guard lock(mutex_);
  return !live_ || Clock::now() - installed_at_ > age;
}

bool Feed::want_load() {
  std::lock_guard lock(mutex_);
  if (stopped_) return false;
  reload_ = true;
  if (reading_) return false;
  reading_ = true;
  return true;
}

bool Feed::begin_load() {
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

void Feed::load_failed() {
  std::lock_guard lock(mutex_);
  reload_ = true;
  loading_ = false;
  pending_.clear();
}

void Feed::install(const std::shared_ptr<const events::Snapshot>& snapshot) {
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

void Feed::apply_locked(const Change& c) {
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

Frame Feed::snapshot_locked() {
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

void Feed::broadcast_locked(const Frame& f, std::string_view kind) {
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

}  // namespace ticketd::stream
