#pragma once
// /health/alerts: rules over sliding windows of this instance's signals, never over lifetime
// totals (a counter that once passed a threshold must not latch an alert forever).
//
// Every `sample_interval` the runner reads each rule's source (cheap, non-blocking reads of
// counters, gauges and histograms) and keeps the readings for the longest window; a request
// reads the sources once more and judges every rule on the difference between that reading and
// the one taken `window` earlier:
//   kIncrease   growth of a counter within the window (DLQ writes, consumer retries);
//   kRatio      growth of a numerator over growth of a denominator (failed / attempted); stays
//               ok below `min_events` in the window, so three requests cannot page anyone;
//   kQuantile   a quantile of the histogram observations made within the window, interpolated
//               inside the bucket as Prometheus' histogram_quantile does; same minimum;
//   kSustained  the lowest reading of a gauge within the window: it fires only when the gauge
//               stayed above the threshold throughout (window 0: the current reading).
// A rule fires when its value exceeds its threshold. `since` is when its current state began.
// The app wires the sources (app/instance.cpp); signals that need I/O (readiness, the oldest
// lapsed hold) are probed by the app and read here from what the probe stored.
#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/json/object.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace ticketd::health {

enum class Severity { kWarning, kCritical };

struct RuleSettings {
  double threshold = 0;
  std::chrono::seconds window{0};
  Severity severity = Severity::kWarning;
};

struct AlertRule {
  enum class Kind { kIncrease, kRatio, kQuantile, kSustained };
  std::string name;
  Kind kind = Kind::kSustained;
  RuleSettings settings;
  // kIncrease, kSustained: {value}; kRatio: {numerator, denominator}; kQuantile: cumulative
  // counts per bound of `bounds`, then the +Inf count.
  std::function<std::vector<double>()> read;
  std::vector<double> bounds;  // kQuantile only
  double quantile = 0.99;      // kQuantile only
};

struct RuleState {
  std::string name;
  Severity severity = Severity::kWarning;
  bool firing = false;
  double value = 0;
  double threshold = 0;
  std::chrono::seconds window{0};
  std::chrono::system_clock::time_point since;
};

struct AlertReport {
  std::vector<RuleState> rules;
  bool critical_firing() const noexcept;
  std::size_t firing() const noexcept;
  boost::json::object to_json() const;
};

// The rules and their readings; thread-safe. Time is passed in so tests can drive it.
class AlertRules {
 public:
  using Clock = std::chrono::steady_clock;
  AlertRules(std::vector<AlertRule> rules, std::size_t min_events,
             std::chrono::system_clock::time_point started);

  // Reads every source and keeps the reading (the runner's tick).
  void record(Clock::time_point now);
  // Reads every source once more and judges each rule against the readings of its window.
  AlertReport evaluate(Clock::time_point now, std::chrono::system_clock::time_point wall);

  // The quantile q of the observations between two cumulative bucket readings (0 when none).
  static double quantile_between(const std::vector<double>& bounds,
                                 const std::vector<double>& before,
                                 const std::vector<double>& after, double q);

 private:
  struct Reading {
    Clock::time_point at;
    std::vector<std::vector<double>> values;  // one per rule
  };
  std::vector<std::vector<double>> read_all() const;
  double judge(std::size_t rule, const Reading& latest, Clock::time_point now) const;

  std::vector<AlertRule> rules_;
  std::size_t min_events_;
  std::chrono::seconds keep_;  // the longest window
  std::mutex mutex_;
  std::deque<Reading> readings_;  // oldest first
  std::vector<RuleState> states_;
};

// The runner: samples the rules every `sample_interval` and answers /health/alerts. `probe`
// refreshes what the sources read from I/O (readiness, database queries); it runs before each
// sample and before a report, at most once a second, and must not throw.
class Alerts {
 public:
  struct Options {
    std::chrono::milliseconds sample_interval{5'000};
    std::size_t min_events = 20;
  };
  using Probe = std::function<boost::asio::awaitable<void>()>;

  Alerts(const boost::asio::any_io_executor& executor, std::vector<AlertRule> rules,
         Options options, Probe probe);

  void start();
  boost::asio::awaitable<void> stop();
  boost::asio::awaitable<AlertReport> report();

 private:
  boost::asio::awaitable<void> run();
  boost::asio::awaitable<void> refresh();

  boost::asio::strand<boost::asio::any_io_executor> strand_;
  AlertRules rules_;
  Options options_;
  Probe probe_;
  boost::asio::steady_timer timer_;
  std::atomic<std::int64_t> last_probe_{0};  // steady clock ticks of the last probe's start
  std::atomic<bool> stopping_{false};
  std::atomic<bool> running_{false};
};

}  // namespace ticketd::health
