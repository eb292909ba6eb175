// The /health/alerts rules' sources (modules/health/alerts.hpp judges them; config lists the
// rules, thresholds and windows). Sources read counters, gauges and histograms this instance
// already keeps, or what probe_for_alerts() last measured for the signals that need I/O.
#include <algorithm>
#include <boost/asio/use_awaitable.hpp>
#include <stdexcept>
#include <string_view>

#include "app/instance.hpp"
#include "core/log.hpp"

namespace ticketd::app {

namespace asio = boost::asio;
using health::AlertRule;
using Kind = health::AlertRule::Kind;

namespace {

// The total of a counter family's series whose labels satisfy `keep` (all series by default).
template <typename Keep>
double sum_counters(core::metrics::Family<core::metrics::Counter>& family, Keep keep) {
  double total = 0;
  family.for_each([&](const std::vector<std::string>& labels, const core::metrics::Counter& c) {
    if (keep(labels)) total += c.value();
  });
  return total;
}

double sum_counters(core::metrics::Family<core::metrics::Counter>& family) {
  return sum_counters(family, [](const std::vector<std::string>&) { return true; });
}

bool label_is(const std::vector<std::string>& labels, std::size_t i, std::string_view value) {
  return i < labels.size() && labels[i] == value;
}

// Exported for Prometheus too (deploy/prometheus/alerts.yml mirrors the rules from outside).
core::metrics::Family<core::metrics::Gauge>& check_up(core::metrics::Registry& metrics) {
  return metrics.gauge("ticketd_health_check_up",
                       "1 while a /health/ready check passes, by check (refreshed by the alert "
                       "probe, at most once a second)",
                       {"check"});
}

core::metrics::Gauge& expiry_lag(core::metrics::Registry& metrics) {
  return metrics
      .gauge("ticketd_reservation_expiry_lag_seconds",
             "How long the oldest ACTIVE hold has been past its expiry (0 when none), by the "
             "database clock")
      .get();
}

}  // namespace

asio::awaitable<void> Instance::probe_for_alerts() {
  const health::Readiness ready = co_await health_.readiness();
  auto& up = check_up(metrics_);
  double failing = 0;
  for (const auto& [name, result] : ready.checks) {
    up.with({name}).set(result.ok ? 1 : 0);
    if (!result.ok) ++failing;
  }
  failing_checks_.store(failing);
  // Database-wide measures, so every instance reports them whether or not it runs the workers.
  // A database that does not answer leaves the last values: readiness already fires then.
  try {
    const auto backlog = co_await outbox_relay_.backlog(100'000);
    outbox_age_seconds_.store(backlog.oldest_age_seconds);
    const double lag = co_await reservation_repo_.expiry_lag_seconds();
    expiry_lag_seconds_.store(lag);
    expiry_lag(metrics_).set(lag);
  } catch (const std::exception& e) {
    core::log::debug("alert probe: database measures not refreshed", {{"error", e.what()}});
  }
}

std::vector<AlertRule> Instance::alert_rules() {
  auto& http_requests =
      metrics_.counter("ticketd_http_requests_total", "HTTP requests by route and status",
                       {"method", "route", "status"});
  auto& reserve_seconds = metrics_.histogram("ticketd_reservation_seconds", "").get();
  auto& outbox_sent = metrics_.counter("ticketd_outbox_sent_total", "", {"topic"});
  auto& outbox_retried = metrics_.counter("ticketd_outbox_retried_total", "", {"topic"});
  auto& outbox_failed = metrics_.counter("ticketd_outbox_failed_total", "", {"topic"});
  auto& webhooks = metrics_.counter("ticketd_payment_webhooks_total", "", {"result"});
  auto& dlq = metrics_.counter("ticketd_kafka_dlq_total", "").get();
  auto& retries = metrics_.counter("ticketd_consumer_retries_total", "").get();
  auto& lag = metrics_.gauge("ticketd_kafka_consumer_lag", "", {"group", "topic"});
  auto& redis_up = metrics_.gauge("ticketd_redis_connection_up", "", {"role"});

  // Registered now, so /metrics lists them before the first probe.
  check_up(metrics_);
  expiry_lag(metrics_);

  std::vector<AlertRule> rules;
  for (const auto& s : config_.alert_rules) {
    AlertRule r;
    r.name = s.name;
    r.settings =
        health::RuleSettings{s.threshold, std::chrono::seconds(s.window_seconds),
                             s.critical ? health::Severity::kCritical : health::Severity::kWarning};
    if (s.name == "readiness") {
      r.read = [this] { return std::vector<double>{failing_checks_.load()}; };
    } else if (s.name == "http_5xx_ratio") {
      // 503 is excluded: shedding, readiness and this very endpoint answer it by design.
      r.kind = Kind::kRatio;
      r.read = [&http_requests] {
        const double errors = sum_counters(http_requests, [](const auto& labels) {
          return labels.size() == 3 && labels[2].starts_with('5') && labels[2] != "503";
        });
        return std::vector<double>{errors, sum_counters(http_requests)};
      };
    } else if (s.name == "reserve_p99_seconds") {
      r.kind = Kind::kQuantile;
      r.bounds = reserve_seconds.bounds();
      r.read = [&reserve_seconds] {
        const auto counts = reserve_seconds.cumulative();
        return std::vector<double>(counts.begin(), counts.end());
      };
    } else if (s.name == "outbox_failure_ratio") {
      r.kind = Kind::kRatio;
      r.read = [&outbox_sent, &outbox_retried, &outbox_failed] {
        const double failed = sum_counters(outbox_retried) + sum_counters(outbox_failed);
        return std::vector<double>{failed, failed + sum_counters(outbox_sent)};
      };
    } else if (s.name == "outbox_backlog_age_seconds") {
      r.read = [this] { return std::vector<double>{outbox_age_seconds_.load()}; };
    } else if (s.name == "webhook_failure_ratio") {
      r.kind = Kind::kRatio;
      r.read = [&webhooks] {
        const double bad = sum_counters(webhooks, [](const auto& labels) {
          return label_is(labels, 0, "rejected") || label_is(labels, 0, "invalid");
        });
        return std::vector<double>{bad, sum_counters(webhooks)};
      };
    } else if (s.name == "dlq_growth") {
      r.kind = Kind::kIncrease;
      r.read = [&dlq] { return std::vector<double>{dlq.value()}; };
    } else if (s.name == "consumer_retries") {
      r.kind = Kind::kIncrease;
      r.read = [&retries] { return std::vector<double>{retries.value()}; };
    } else if (s.name == "consumer_lag") {
      r.read = [&lag] {
        double total = 0;
        lag.for_each([&](const auto&, const core::metrics::Gauge& g) { total += g.value(); });
        return std::vector<double>{total};
      };
    } else if (s.name == "db_pool_saturation") {
      r.read = [this] {
        const auto st = pool_.stats();
        const double size = static_cast<double>(std::max<std::size_t>(st.max_size, 1));
        return std::vector<double>{static_cast<double>(st.in_use) / size};
      };
    } else if (s.name == "expiry_lag_seconds") {
      r.read = [this] { return std::vector<double>{expiry_lag_seconds_.load()}; };
    } else if (s.name == "redis_down") {
      r.read = [&redis_up] {
        double down = 0;
        redis_up.for_each([&](const auto&, const core::metrics::Gauge& g) {
          if (g.value() <= 0) down = 1;
        });
        return std::vector<double>{down};
      };
    } else if (s.name == "kafka_down") {
      r.read = [this] { return std::vector<double>{producer_.broker_reachable() ? 0.0 : 1.0}; };
    } else {
      throw std::logic_error("alert rule without a source: " + s.name);
    }
    rules.push_back(std::move(r));
  }
  return rules;
}

}  // namespace ticketd::app
