#pragma once
// A small Prometheus registry (text format 0.0.4). Families are created at start-up and handed
// to components explicitly; children (one per label set) are created on first use and then
// updated lock-free. Collectors refresh gauges that mirror other state (pool sizes, backlog)
// right before a scrape. Every family holds at most max_series() label sets: label values can
// come from clients (a route that matched nothing, an invented method), so once the cap is
// reached new sets fold into one overflow series (every label "__overflow__") and are counted
// in ticketd_metric_series_overflow_total{family} instead of growing memory and every scrape.
#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace ticketd::core::metrics {

class Counter {
 public:
  void inc(double v = 1.0) noexcept { value_.fetch_add(v, std::memory_order_relaxed); }
  double value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class Gauge {
 public:
  void set(double v) noexcept { value_.store(v, std::memory_order_relaxed); }
  void inc(double v = 1.0) noexcept { value_.fetch_add(v, std::memory_order_relaxed); }
  void dec(double v = 1.0) noexcept { value_.fetch_sub(v, std::memory_order_relaxed); }
  double value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class Histogram {
 public:
  explicit Histogram(const std::vector<double>& bounds);
  void observe(double v) noexcept;
  const std::vector<double>& bounds() const noexcept { return bounds_; }
  // Cumulative counts per bound, then +Inf; sum and count.
  std::vector<std::uint64_t> cumulative() const;
  double sum() const noexcept { return sum_.load(std::memory_order_relaxed); }
  std::uint64_t count() const noexcept { return count_.load(std::memory_order_relaxed); }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // bounds_.size() + 1 (the +Inf one)
  std::atomic<double> sum_{0.0};
  std::atomic<std::uint64_t> count_{0};
};

// Latency buckets in seconds, 0.5 ms … 10 s.
const std::vector<double>& latency_buckets();

// Label sets one family holds before new ones fold into its overflow series.
inline constexpr std::size_t kDefaultMaxSeries = 2'000;
// The label value of every label of the overflow series.
inline constexpr std::string_view kOverflowLabel = "__overflow__";

template <typename Metric>
class Family {
 public:
  Family(std::string name, std::string help, std::vector<std::string> labels,
         std::vector<double> bounds = {}, std::size_t max_series = kDefaultMaxSeries)
      : name_(std::move(name)),
        help_(std::move(help)),
        labels_(std::move(labels)),
        bounds_(std::move(bounds)),
        max_series_(max_series) {}

  // The child for these label values (in the order the family declared its labels). A hit
  // allocates nothing: the values are joined into a reused per-thread buffer for the lookup.
  Metric& with(std::initializer_list<std::string_view> values) {
    return find_or_create(values.begin(), values.end());
  }
  Metric& with(const std::vector<std::string>& values) {
    return find_or_create(values.begin(), values.end());
  }
  // The child without labels.
  Metric& get() { return with(std::vector<std::string>{}); }

  const std::string& name() const noexcept { return name_; }
  const std::string& help() const noexcept { return help_; }
  const std::vector<std::string>& labels() const noexcept { return labels_; }
  std::size_t max_series() const noexcept { return max_series_; }
  // Lookups of new label sets answered by the overflow series since start-up.
  std::uint64_t overflowed() const noexcept { return overflowed_.load(std::memory_order_relaxed); }

  template <typename Fn>
  void for_each(Fn&& fn) const {
    std::shared_lock lock(mutex_);
    for (const auto& [key, child] : children_) fn(child.values, *child.metric);
    if (overflow_.metric) fn(overflow_.values, *overflow_.metric);
  }

 private:
  struct Child {
    std::vector<std::string> values;
    std::unique_ptr<Metric> metric;
  };

  template <typename It>
  Metric& find_or_create(It first, It last) {
    thread_local std::string key;
    key.clear();
    for (It it = first; it != last; ++it) {
      key.append(std::string_view(*it));
      key.push_back('\x1f');  // unit separator: cannot collide with joined label text in practice
    }
    {
      std::shared_lock lock(mutex_);
      if (auto it = children_.find(std::string_view(key)); it != children_.end()) {
        return *it->second.metric;
      }
      if (children_.size() >= max_series_ && overflow_.metric) {
        overflowed_.fetch_add(1, std::memory_order_relaxed);
        return *overflow_.metric;
      }
    }
    std::unique_lock lock(mutex_);
    if (auto it = children_.find(std::string_view(key)); it != children_.end()) {
      return *it->second.metric;
    }
    if (children_.size() >= max_series_) {
      overflowed_.fetch_add(1, std::memory_order_relaxed);
      if (!overflow_.metric) {
        overflow_.values.assign(labels_.size(), std::string(kOverflowLabel));
        overflow_.metric = make();
      }
      return *overflow_.metric;
    }
    auto& child = children_[key];
    for (It v = first; v != last; ++v) child.values.emplace_back(std::string_view(*v));
    child.metric = make();
    return *child.metric;
  }

  std::unique_ptr<Metric> make() {
    if constexpr (std::is_same_v<Metric, Histogram>) {
      return std::make_unique<Histogram>(bounds_);
    } else {
      return std::make_unique<Metric>();
    }
  }

  std::string name_;
  std::string help_;
  std::vector<std::string> labels_;
  std::vector<double> bounds_;
  std::size_t max_series_;
  std::atomic<std::uint64_t> overflowed_{0};
  mutable std::shared_mutex mutex_;
  std::map<std::string, Child, std::less<>> children_;
  Child overflow_;  // created on the first lookup past the cap; guarded by mutex_
};

class Registry {
 public:
  // Each returns the family of that name, creating it on first use; asking again with the same
  // name returns the same family (other labels throw std::invalid_argument). `max_series` caps
  // its label sets (see the top of this file).
  Family<Counter>& counter(std::string name, std::string help, std::vector<std::string> labels = {},
                           std::size_t max_series = kDefaultMaxSeries);
  Family<Gauge>& gauge(std::string name, std::string help, std::vector<std::string> labels = {},
                       std::size_t max_series = kDefaultMaxSeries);
  Family<Histogram>& histogram(std::string name, std::string help,
                               std::vector<std::string> labels = {},
                               std::vector<double> bounds = latency_buckets(),
                               std::size_t max_series = kDefaultMaxSeries);
  // Runs before every render(); keep it cheap and non-blocking.
  void add_collector(std::function<void()> collector);

  std::string render() const;

 private:
  mutable std::mutex mutex_;
  // Owned through unique_ptr so references handed out stay valid while families are added.
  std::vector<std::unique_ptr<Family<Counter>>> counters_;
  std::vector<std::unique_ptr<Family<Gauge>>> gauges_;
  std::vector<std::unique_ptr<Family<Histogram>>> histograms_;
  std::vector<std::function<void()>> collectors_;
};

}  // namespace ticketd::core::metrics
