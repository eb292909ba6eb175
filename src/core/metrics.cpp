#include "core/metrics.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace ticketd::core::metrics {
namespace {

std::string escape_label(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", v);
}

// `{a="x",b="y"}` with an optional extra label (histogram `le`), or "" without labels.
std::string label_set(const std::vector<std::string>& names, const std::vector<std::string>& values,
                      std::string_view extra_name = {}, std::string_view extra_value = {}) {
  if (names.empty() && extra_name.empty()) return {};
  std::string out = "{";
  for (std::size_t i = 0; i < names.size() && i < values.size(); ++i) {
    if (i) out.push_back(',');
    out += fmt::format("{}=\"{}\"", names[i], escape_label(values[i]));
  }
  if (!extra_name.empty()) {
    if (!names.empty()) out.push_back(',');
    out += fmt::format("{}=\"{}\"", extra_name, extra_value);
  }
  out.push_back('}');
  return out;
}

void header(std::string& out, std::string_view name, std::string_view help, std::string_view type) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

// Families are looked up by name first: two components asking for the same family share it
// (the exposition format allows each name once).
template <typename F>
F& add(std::mutex& m, std::vector<std::unique_ptr<F>>& v, std::unique_ptr<F> f) {
  std::lock_guard lock(m);
  for (auto& existing : v) {
    if (existing->name() == f->name()) {
      if (existing->labels() != f->labels()) {
        throw std::invalid_argument("metric " + f->name() + " registered with other labels");
      }
      return *existing;
    }
  }
  v.push_back(std::move(f));
  return *v.back();
}

}  // namespace

Histogram::Histogram(const std::vector<double>& bounds)
    : bounds_(bounds), buckets_(new std::atomic<std::uint64_t>[bounds.size() + 1]) {
  if (!std::is_sorted(bounds_.begin(), bounds_.end())) {
    throw std::invalid_argument("histogram bounds must be sorted");
  }
  for (std::size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0);
}

void Histogram::observe(double v) noexcept {
  const auto idx = static_cast<std::size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) -
                                            bounds_.begin());
  buckets_[idx].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

std::vector<std::uint64_t> Histogram::cumulative() const {
  std::vector<std::uint64_t> out(bounds_.size() + 1);
  std::uint64_t running = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    out[i] = running;
  }
  return out;
}

const std::vector<double>& latency_buckets() {
  static const std::vector<double> buckets{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                           0.1,    0.25,  0.5,    1.0,   2.5,  5.0,   10.0};
  return buckets;
}

Family<Counter>& Registry::counter(std::string name, std::string help,
                                   std::vector<std::string> labels, std::size_t max_series) {
  return add(mutex_, counters_,
             std::make_unique<Family<Counter>>(std::move(name), std::move(help), std::move(labels),
                                               std::vector<double>{}, max_series));
}

Family<Gauge>& Registry::gauge(std::string name, std::string help, std::vector<std::string> labels,
                               std::size_t max_series) {
  return add(mutex_, gauges_,
             std::make_unique<Family<Gauge>>(std::move(name), std::move(help), std::move(labels),
                                             std::vector<double>{}, max_series));
}

Family<Histogram>& Registry::histogram(std::string name, std::string help,
                                       std::vector<std::string> labels, std::vector<double> bounds,
                                       std::size_t max_series) {
  return add(mutex_, histograms_,
             std::make_unique<Family<Histogram>>(std::move(name), std::move(help),
                                                 std::move(labels), std::move(bounds), max_series));
}

void Registry::add_collector(std::function<void()> collector) {
  std::lock_guard lock(mutex_);
  collectors_.push_back(std::move(collector));
}

std::string Registry::render() const {
  std::lock_guard lock(mutex_);
  for (const auto& c : collectors_) c();
  std::string out;
  out.reserve(std::size_t{16} * 1024);
  for (const auto& f : counters_) {
    header(out, f->name(), f->help(), "counter");
    f->for_each([&](const std::vector<std::string>& key, const Counter& c) {
      out +=
          fmt::format("{}{} {}\n", f->name(), label_set(f->labels(), key), format_value(c.value()));
    });
  }
  for (const auto& f : gauges_) {
    header(out, f->name(), f->help(), "gauge");
    f->for_each([&](const std::vector<std::string>& key, const Gauge& g) {
      out +=
          fmt::format("{}{} {}\n", f->name(), label_set(f->labels(), key), format_value(g.value()));
    });
  }
  for (const auto& f : histograms_) {
    header(out, f->name(), f->help(), "histogram");
    f->for_each([&](const std::vector<std::string>& key, const Histogram& h) {
      const auto cum = h.cumulative();
      for (std::size_t i = 0; i < h.bounds().size(); ++i) {
        out += fmt::format("{}_bucket{} {}\n", f->name(),
                           label_set(f->labels(), key, "le", format_value(h.bounds()[i])), cum[i]);
      }
      out += fmt::format("{}_bucket{} {}\n", f->name(), label_set(f->labels(), key, "le", "+Inf"),
                         cum.back());
      out += fmt::format("{}_sum{} {}\n", f->name(), label_set(f->labels(), key),
                         format_value(h.sum()));
      out += fmt::format("{}_count{} {}\n", f->name(), label_set(f->labels(), key), cum.back());
    });
  }
  // One series per family that ever overflowed, so an alert can say which one is under attack.
  constexpr std::string_view kOverflowName = "ticketd_metric_series_overflow_total";
  header(out, kOverflowName, "Label sets folded into a family's overflow series (cap reached)",
         "counter");
  auto overflow_line = [&](const auto& f) {
    if (const auto n = f->overflowed(); n > 0) {
      out += fmt::format("{}{{family=\"{}\"}} {}\n", kOverflowName, f->name(), n);
    }
  };
  for (const auto& f : counters_) overflow_line(f);
  for (const auto& f : gauges_) overflow_line(f);
  for (const auto& f : histograms_) overflow_line(f);
  return out;
}

}  // namespace ticketd::core::metrics
