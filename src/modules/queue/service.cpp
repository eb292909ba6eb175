#include "modules/queue/service.hpp"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>

#include "core/errors.hpp"
#include "core/ids.hpp"
#include "core/time.hpp"

namespace ticketd::queue {

namespace asio = boost::asio;
using core::ApiError;
using core::ErrorKind;

namespace {

constexpr std::int64_t kMinRetryMs = 250;
constexpr std::int64_t kMaxRetryMs = 10'000;
// Asked a little after the turn should come, the answer is ADMITTED rather than one more WAITING.
constexpr std::int64_t kTurnSlackMs = 100;
constexpr std::int64_t kSoldOutRetryMs = 10'000;

std::int64_t ceil_div(std::int64_t a, std::int64_t b) {
  return b <= 0 ? 0 : (a + b - 1) / b;
}

std::string iso_of_ms(std::int64_t ms) {
  return core::iso8601(std::chrono::system_clock::time_point(std::chrono::milliseconds(ms)));
}

// Where a buyer stands, for the client: how many still wait up to them, how long that takes at
// the event's rate (plus the time until the sale opens), and when to ask again: when their turn
// should come (admission advances at exactly that rate while something is sellable), so a buyer
// polls about twice instead of every second, and learns of the turn within ~100 ms of it (a
// flash sale's sell-out time is bounded by that lag; bench/flashsale).
Place waiting(const Standing& s, const EventState& state) {
  Place p;
  p.position = std::max<std::int64_t>(0, s.rank - s.admitted);
  if (!state.sellable) {
    p.status = "SOLD_OUT";
    p.retry_after_ms = kSoldOutRetryMs;
    return p;
  }
  p.status = "WAITING";
  const std::int64_t until_open = std::max<std::int64_t>(0, state.sales_start_ms - s.now_ms);
  p.estimated_wait_seconds =
      ceil_div(until_open, 1000) + ceil_div(p.position, state.admit_per_second);
  const std::int64_t turn_ms =
      p.position * 1000 / std::max<std::int64_t>(1, state.admit_per_second) + kTurnSlackMs;
  p.retry_after_ms = std::clamp(until_open + turn_ms, kMinRetryMs, kMaxRetryMs);
  return p;
}

}  // namespace

Service::Service(Repository& repo, Line& line, Passes passes, Settings settings,
                 core::metrics::Registry& metrics)
    : repo_(repo),
      line_(line),
      passes_(std::move(passes)),
      settings_(settings),
      answers_(metrics.counter("ticketd_queue_answers_total",
                               "Waiting-room joins and polls by the status answered", {"status"})),
      gate_(metrics.counter("ticketd_queue_gate_total",
                            "Reserve attempts checked by the waiting room, by result",
                            {"result"})) {}

asio::awaitable<std::optional<EventState>> Service::state(std::string event_id) {
  const auto now = std::chrono::steady_clock::now();
  std::optional<EventState> stale;
  {
    std::lock_guard lock(mutex_);
    auto it = cache_.find(event_id);
    if (it != cache_.end()) {
      if (it->second.until > now) co_return it->second.state;
      // Aged: answer with it and refresh it in the background, once, so a reserve never waits
      // for this read (its one database round trip stays its own).
      if (!it->second.refreshing) {
        it->second.refreshing = true;
        stale = it->second.state;
      } else {
        co_return it->second.state;
      }
    }
  }
  if (stale) {
    auto ex = co_await asio::this_coro::executor;
    asio::co_spawn(ex, refresh(event_id), asio::detached);
    co_return stale;
  }
  co_return co_await refresh(std::move(event_id));
}

asio::awaitable<std::optional<EventState>> Service::refresh(std::string event_id) {
  std::optional<EventState> loaded;
  bool failed = false;
  try {
    std::string id = event_id;
    loaded = co_await repo_.state(std::move(id));
  } catch (const std::exception&) {
    failed = true;
  }
  std::lock_guard lock(mutex_);
  if (failed) {
    // Keep serving the copy (if any) and try again on the next request.
    if (auto it = cache_.find(event_id); it != cache_.end()) it->second.refreshing = false;
    throw core::InfraError(core::ErrorKind::kUnavailable, "DB_UNAVAILABLE",
                           "cannot read the event's queue settings");
  }
  if (!loaded) {
    cache_.erase(event_id);
    co_return loaded;
  }
  if (cache_.size() >= kMaxCached) cache_.clear();
  cache_[event_id] = Cached{*loaded, std::chrono::steady_clock::now() + settings_.state_ttl, false};
  co_return loaded;
}

void Service::forget(const std::string& event_id) {
  std::lock_guard lock(mutex_);
  cache_.erase(event_id);
}

asio::awaitable<Place> Service::join(const core::Principal& caller, std::string event_id) {
  if (caller.user_id.empty()) {
    throw ApiError(ErrorKind::kForbidden, "FORBIDDEN", "Buyers join the queue, not API keys");
  }
  auto canonical = core::canonical_uuid(event_id);
  if (!canonical) throw core::not_found("Event");
  auto state_of = co_await this->state(*canonical);
  if (!state_of || state_of->status != "PUBLISHED") throw core::not_found("Event");
  const EventState state = *state_of;
  Place place;
  if (state.mode == "OFF") {
    place.status = "OPEN";
    answers_.with({place.status}).inc();
    co_return place;
  }
  std::optional<Standing> standing;
  bool unavailable = false;
  try {
    std::string event = *canonical;
    std::string user = caller.user_id;
    const std::int64_t pass_ms = std::chrono::milliseconds(settings_.admission_ttl).count();
    standing = co_await line_.join(std::move(event), std::move(user), state, pass_ms);
  } catch (const core::InfraError&) {
    unavailable = true;
  }
  if (unavailable) {
    answers_.with({"UNAVAILABLE"}).inc();
    throw ApiError(ErrorKind::kUnavailable, "QUEUE_UNAVAILABLE",
                   "The waiting room cannot be reached right now; admission tokens already given "
                   "keep working")
        .with_retry_after(2);
  }
  if (!standing->running) {
    place.status = "OPEN";
  } else if (standing->rank <= standing->admitted) {
    place.status = "ADMITTED";
    place.admission_token = passes_.issue(caller.user_id, *canonical, standing->expires_ms);
    place.admission_expires_at = iso_of_ms(standing->expires_ms);
  } else {
    place = waiting(*standing, state);
  }
  answers_.with({place.status}).inc();
  co_return place;
}

asio::awaitable<void> Service::gate(std::string user_id, std::string event_id,
                                    std::optional<std::string> token) {
  auto state_of = co_await this->state(event_id);
  // An unknown or unpublished event is reserve()'s to refuse.
  if (!state_of || state_of->mode == "OFF") co_return;
  const EventState state = *state_of;
  const bool admitted = token && passes_.valid(*token, user_id, event_id, core::unix_ms());
  bool running = true;
  if (state.mode == "AUTO") {
    try {
      std::string event = event_id;
      running = co_await line_.attempt(std::move(event), state.auto_threshold_per_second);
    } catch (const core::InfraError&) {
      running = false;  // fairness needs Redis; seats do not
    }
  }
  if (!running || admitted) {
    gate_.with({admitted ? "admitted" : "no_queue"}).inc();
    co_return;
  }
  gate_.with({"refused"}).inc();
  std::optional<Standing> standing;
  try {
    std::string event = event_id;
    standing = co_await line_.look(std::move(event), std::move(user_id));
  } catch (const core::InfraError&) {
    standing.reset();  // the refusal stands; only the position is unknown
  }
  require_queue(event_id, state, standing);
}

void Service::require_queue(const std::string& event_id, const EventState& state,
                            const std::optional<Standing>& standing) const {
  boost::json::object data{{"queue", "/events/" + event_id + "/queue"}};
  std::int64_t retry_ms = kMinRetryMs;
  if (standing && standing->rank > 0) {
    const Place p = waiting(*standing, state);
    data["position"] = p.position;
    data["estimatedWaitSeconds"] = p.estimated_wait_seconds;
    retry_ms = p.retry_after_ms;
  } else {
    data["position"] = nullptr;
  }
  throw ApiError(ErrorKind::kRateLimited, "QUEUE_REQUIRED",
                 "This event's waiting room is running: join it (POST /events/" + event_id +
                     "/queue) and reserve with the admission token it gives")
      .with_retry_after(static_cast<int>(ceil_div(retry_ms, 1000)))
      .with_data(std::move(data));
}

}  // namespace ticketd::queue
