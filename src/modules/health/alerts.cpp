#include "modules/health/alerts.hpp"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/array.hpp>
#include <cmath>
#include <utility>

#include "core/async.hpp"
#include "core/log.hpp"
#include "core/time.hpp"

namespace ticketd::health {

namespace asio = boost::asio;
namespace json = boost::json;

bool AlertReport::critical_firing() const noexcept {
  return std::any_of(rules.begin(), rules.end(), [](const RuleState& r) {
    return r.firing && r.severity == Severity::kCritical;
  });
}

std::size_t AlertReport::firing() const noexcept {
  return static_cast<std::size_t>(
      std::count_if(rules.begin(), rules.end(), [](const RuleState& r) { return r.firing; }));
}

namespace {

// Whole numbers as integers ("0", not "0E0" as Boost.JSON writes doubles).
json::value number(double v) {
  if (std::isfinite(v) && v == std::trunc(v) && std::fabs(v) < 9.0e15) {
    return static_cast<std::int64_t>(v);
  }
  return v;
}

}  // namespace

json::object AlertReport::to_json() const {
  json::array items;
  items.reserve(rules.size());
  for (const auto& r : rules) {
    items.push_back(json::object{
        {"name", r.name},
        {"severity", r.severity == Severity::kCritical ? "critical" : "warning"},
        {"state", r.firing ? "firing" : "ok"},
        {"value", number(r.value)},
        {"threshold", number(r.threshold)},
        {"window", r.window.count()},
        {"since", core::iso8601(r.since)},
    });
  }
  const char* status = critical_firing() ? "critical" : firing() > 0 ? "warning" : "ok";
  return json::object{{"status", status},
                      {"firing", static_cast<std::int64_t>(firing())},
                      {"rules", std::move(items)}};
}

AlertRules::AlertRules(std::vector<AlertRule> rules, std::size_t min_events,
                       std::chrono::system_clock::time_point started)
    : rules_(std::move(rules)), min_events_(min_events), keep_(0) {
  for (const auto& r : rules_) {
    keep_ = std::max(keep_, r.settings.window);
    RuleState s;
    s.name = r.name;
    s.severity = r.settings.severity;
    s.threshold = r.settings.threshold;
    s.window = r.settings.window;
    s.since = started;
    states_.push_back(std::move(s));
  }
}

std::vector<std::vector<double>> AlertRules::read_all() const {
  std::vector<std::vector<double>> out;
  out.reserve(rules_.size());
  for (const auto& r : rules_) out.push_back(r.read());
  return out;
}

void AlertRules::record(Clock::time_point now) {
  auto values = read_all();
  std::lock_guard lock(mutex_);
  readings_.push_back(Reading{now, std::move(values)});
  // Keep the newest reading at least `keep_` old: it is the longest window's baseline.
  while (readings_.size() >= 2 && readings_[1].at <= now - keep_) readings_.pop_front();
}

double AlertRules::quantile_between(const std::vector<double>& bounds,
                                    const std::vector<double>& before,
                                    const std::vector<double>& after, double q) {
  const std::size_t n = std::min({bounds.size() + 1, before.size(), after.size()});
  if (n == 0) return 0;
  const double total = after[n - 1] - before[n - 1];
  if (total <= 0) return 0;
  const double rank = q * total;
  double previous = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double cumulative = after[i] - before[i];
    if (cumulative < rank) {
      previous = cumulative;
      continue;
    }
    // Past the last finite bound nothing is known but "more than it".
    if (i >= bounds.size()) return bounds.empty() ? 0 : bounds.back();
    const double lower = i == 0 ? 0 : bounds[i - 1];
    const double in_bucket = cumulative - previous;
    if (in_bucket <= 0) return bounds[i];
    return lower + (bounds[i] - lower) * (rank - previous) / in_bucket;
  }
  return bounds.empty() ? 0 : bounds.back();
}

double AlertRules::judge(std::size_t i, const Reading& latest, Clock::time_point now) const {
  const AlertRule& rule = rules_[i];
  const auto& current = latest.values[i];
  // The baseline: the newest reading at least `window` old (the oldest one while the process is
  // younger than the window; the current reading when there is none).
  const Reading* baseline = &latest;
  std::size_t first = readings_.size();
  for (std::size_t k = readings_.size(); k-- > 0;) {
    baseline = &readings_[k];
    first = k;
    if (readings_[k].at <= now - rule.settings.window) break;
  }
  const auto& before = baseline->values[i];
  auto at = [](const std::vector<double>& v, std::size_t k) { return k < v.size() ? v[k] : 0.0; };
  switch (rule.kind) {
    case AlertRule::Kind::kIncrease:
      return std::max(0.0, at(current, 0) - at(before, 0));
    case AlertRule::Kind::kRatio: {
      const double events = at(current, 1) - at(before, 1);
      if (events <= 0 || events < static_cast<double>(min_events_)) return 0;
      return std::max(0.0, at(current, 0) - at(before, 0)) / events;
    }
    case AlertRule::Kind::kQuantile: {
      const double events = at(current, current.size() - 1) - at(before, before.size() - 1);
      if (events <= 0 || events < static_cast<double>(min_events_)) return 0;
      return quantile_between(rule.bounds, before, current, rule.quantile);
    }
    case AlertRule::Kind::kSustained: {
      double lowest = at(current, 0);
      if (rule.settings.window.count() == 0) return lowest;
      for (std::size_t k = first; k < readings_.size(); ++k) {
        lowest = std::min(lowest, at(readings_[k].values[i], 0));
      }
      return lowest;
    }
  }
  return 0;
}

AlertReport AlertRules::evaluate(Clock::time_point now,
                                 std::chrono::system_clock::time_point wall) {
  Reading latest{now, read_all()};
  std::lock_guard lock(mutex_);
  AlertReport report;
  report.rules.reserve(rules_.size());
  for (std::size_t i = 0; i < rules_.size(); ++i) {
    RuleState& s = states_[i];
    s.value = judge(i, latest, now);
    const bool firing = s.value > s.threshold;
    if (firing != s.firing) {
      s.firing = firing;
      s.since = wall;
    }
    report.rules.push_back(s);
  }
  return report;
}

Alerts::Alerts(const asio::any_io_executor& executor, std::vector<AlertRule> rules, Options options,
               Probe probe)
    : strand_(asio::make_strand(executor)),
      rules_(std::move(rules), options.min_events, std::chrono::system_clock::now()),
      options_(options),
      probe_(std::move(probe)),
      timer_(strand_) {}

asio::awaitable<void> Alerts::refresh() {
  // Coalesced: a burst of requests to /health/alerts probes at most once per second.
  const auto now = std::chrono::steady_clock::now().time_since_epoch().count();
  auto last = last_probe_.load();
  if (now - last < std::chrono::nanoseconds(std::chrono::seconds(1)).count()) co_return;
  if (!last_probe_.compare_exchange_strong(last, now)) co_return;
  try {
    co_await probe_();
  } catch (const std::exception& e) {
    core::log::warn("alert probe failed", {{"error", e.what()}});
  }
}

void Alerts::start() {
  running_.store(true);
  rules_.record(AlertRules::Clock::now());
  asio::co_spawn(strand_, run(), asio::detached);
}

asio::awaitable<void> Alerts::run() {
  while (!stopping_.load()) {
    co_await refresh();
    rules_.record(AlertRules::Clock::now());
    // Judged on every tick too, so `since` reflects when a rule changed, not when it was read.
    rules_.evaluate(AlertRules::Clock::now(), std::chrono::system_clock::now());
    if (stopping_.load()) break;
    timer_.expires_after(options_.sample_interval);
    boost::system::error_code ec;
    co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  running_.store(false);
}

asio::awaitable<AlertReport> Alerts::report() {
  co_await refresh();
  co_return rules_.evaluate(AlertRules::Clock::now(), std::chrono::system_clock::now());
}

asio::awaitable<void> Alerts::stop() {
  stopping_.store(true);
  asio::post(strand_, [this] { timer_.cancel(); });
  co_await core::until_cleared(running_);
}

}  // namespace ticketd::health
