// AlertRules with scripted sources and a driven clock: windows, minimum events, quantiles,
// sustained gauges, and `since`.
#include "modules/health/alerts.hpp"

#include <gtest/gtest.h>

#include <memory>

namespace ticketd::health {
namespace {

using namespace std::chrono_literals;
using Clock = AlertRules::Clock;

struct Source {
  std::shared_ptr<std::vector<double>> values = std::make_shared<std::vector<double>>();
  std::function<std::vector<double>()> read() const {
    return [v = values] { return *v; };
  }
};

AlertRule rule(std::string name, AlertRule::Kind kind, double threshold,
               std::chrono::seconds window, const Source& source,
               Severity severity = Severity::kCritical) {
  AlertRule r;
  r.name = std::move(name);
  r.kind = kind;
  r.settings = RuleSettings{threshold, window, severity};
  r.read = source.read();
  return r;
}

const std::chrono::system_clock::time_point wall0{std::chrono::seconds(1'800'000'000)};

TEST(AlertRules, IncreaseCountsOnlyWhatHappenedWithinTheWindow) {
  Source dlq;
  *dlq.values = {100};  // a lifetime total from before: never an alert by itself
  AlertRules rules({rule("dlq_growth", AlertRule::Kind::kIncrease, 0, 60s, dlq)}, 20, wall0);
  const auto t0 = Clock::now();
  rules.record(t0);
  auto report = rules.evaluate(t0 + 1s, wall0 + 1s);
  EXPECT_FALSE(report.rules[0].firing);
  EXPECT_EQ(report.rules[0].value, 0);

  *dlq.values = {102};
  rules.record(t0 + 10s);
  report = rules.evaluate(t0 + 10s, wall0 + 10s);
  EXPECT_TRUE(report.rules[0].firing);
  EXPECT_EQ(report.rules[0].value, 2);
  EXPECT_EQ(report.rules[0].since, wall0 + 10s);
  EXPECT_TRUE(report.critical_firing());

  // Samples keep coming; once the growth is older than the window, the rule clears.
  for (int s = 20; s <= 80; s += 10) rules.record(t0 + std::chrono::seconds(s));
  report = rules.evaluate(t0 + 80s, wall0 + 80s);
  EXPECT_FALSE(report.rules[0].firing);
  EXPECT_EQ(report.rules[0].value, 0);
  EXPECT_EQ(report.rules[0].since, wall0 + 80s);
}

TEST(AlertRules, RatioNeedsTheMinimumNumberOfEventsInItsWindow) {
  Source webhooks;
  *webhooks.values = {0, 0};
  AlertRules rules({rule("webhook_failure_ratio", AlertRule::Kind::kRatio, 0.2, 300s, webhooks)},
                   10, wall0);
  const auto t0 = Clock::now();
  rules.record(t0);
  *webhooks.values = {5, 5};  // all failed, but only 5 events
  EXPECT_FALSE(rules.evaluate(t0 + 1s, wall0).rules[0].firing);
  *webhooks.values = {5, 20};  // 5 of 20: 0.25
  auto r = rules.evaluate(t0 + 2s, wall0).rules[0];
  EXPECT_TRUE(r.firing);
  EXPECT_DOUBLE_EQ(r.value, 0.25);
  *webhooks.values = {5, 40};  // 5 of 40: 0.125
  EXPECT_FALSE(rules.evaluate(t0 + 3s, wall0).rules[0].firing);
}

TEST(AlertRules, QuantileInterpolatesWithinTheBucketOfTheWindowsObservations) {
  const std::vector<double> bounds{0.1, 0.5, 1.0};
  // 100 observations: 90 under 0.1 s, 10 between 0.5 and 1 s.
  EXPECT_NEAR(AlertRules::quantile_between(bounds, {0, 0, 0, 0}, {90, 90, 100, 100}, 0.99), 0.95,
              1e-9);
  EXPECT_NEAR(AlertRules::quantile_between(bounds, {0, 0, 0, 0}, {90, 90, 100, 100}, 0.5),
              0.1 * 50 / 90, 1e-9);
  // Only the difference counts: the same 100 observations on top of an old slow history.
  EXPECT_NEAR(AlertRules::quantile_between(bounds, {0, 0, 500, 500}, {90, 90, 600, 600}, 0.99),
              0.95, 1e-9);
  // Beyond the last bound: the last bound (all that is known); nothing observed: 0.
  EXPECT_EQ(AlertRules::quantile_between(bounds, {0, 0, 0, 0}, {0, 0, 0, 10}, 0.99), 1.0);
  EXPECT_EQ(AlertRules::quantile_between(bounds, {5, 5, 5, 5}, {5, 5, 5, 5}, 0.99), 0.0);

  Source histogram;
  *histogram.values = {0, 0, 0, 0};
  auto p99 = rule("reserve_p99_seconds", AlertRule::Kind::kQuantile, 0.5, 300s, histogram,
                  Severity::kWarning);
  p99.bounds = bounds;
  AlertRules rules({p99}, 20, wall0);
  const auto t0 = Clock::now();
  rules.record(t0);
  *histogram.values = {90, 90, 100, 100};
  const auto report = rules.evaluate(t0 + 1s, wall0);
  EXPECT_TRUE(report.rules[0].firing);
  EXPECT_NEAR(report.rules[0].value, 0.95, 1e-9);
  EXPECT_FALSE(report.critical_firing());  // a warning only
  EXPECT_EQ(report.firing(), 1u);
}

TEST(AlertRules, SustainedFiresOnlyWhenTheGaugeStayedAboveThroughoutTheWindow) {
  Source pool;
  *pool.values = {0.95};
  AlertRules rules({rule("db_pool_saturation", AlertRule::Kind::kSustained, 0.9, 30s, pool)}, 20,
                   wall0);
  const auto t0 = Clock::now();
  rules.record(t0);
  *pool.values = {0.5};  // one dip
  rules.record(t0 + 10s);
  *pool.values = {0.99};
  for (int s = 20; s <= 35; s += 5) rules.record(t0 + std::chrono::seconds(s));
  // At 35 s the window [5 s, 35 s] still holds the dip (its baseline is the reading at 0 s).
  EXPECT_FALSE(rules.evaluate(t0 + 35s, wall0).rules[0].firing);
  // At 45 s the baseline (the newest reading at least 30 s old) is the dip itself.
  rules.record(t0 + 45s);
  EXPECT_FALSE(rules.evaluate(t0 + 45s, wall0).rules[0].firing);
  rules.record(t0 + 55s);
  const auto r = rules.evaluate(t0 + 55s, wall0).rules[0];
  EXPECT_TRUE(r.firing);
  EXPECT_DOUBLE_EQ(r.value, 0.99);
}

TEST(AlertRules, WindowZeroJudgesTheCurrentReading) {
  Source failing;
  *failing.values = {0};
  AlertRules rules({rule("readiness", AlertRule::Kind::kSustained, 0, 0s, failing)}, 20, wall0);
  const auto t0 = Clock::now();
  rules.record(t0);
  *failing.values = {2};
  auto r = rules.evaluate(t0 + 1s, wall0 + 1s).rules[0];
  EXPECT_TRUE(r.firing);
  EXPECT_EQ(r.value, 2);
  EXPECT_EQ(r.since, wall0 + 1s);
  r = rules.evaluate(t0 + 2s, wall0 + 2s).rules[0];
  EXPECT_EQ(r.since, wall0 + 1s);  // still firing: since stays where it began
  *failing.values = {0};
  EXPECT_FALSE(rules.evaluate(t0 + 3s, wall0 + 3s).rules[0].firing);
}

TEST(AlertRules, ReportRendersEveryRuleWithItsState) {
  Source s;
  *s.values = {3};
  AlertRules rules({rule("dlq_growth", AlertRule::Kind::kIncrease, 0, 900s, s, Severity::kWarning)},
                   20, wall0);
  const auto t0 = Clock::now();
  rules.record(t0);
  *s.values = {4};
  const auto json = rules.evaluate(t0 + 1s, wall0 + 1s).to_json();
  EXPECT_EQ(json.at("status").as_string(), "warning");
  EXPECT_EQ(json.at("firing").as_int64(), 1);
  const auto& r = json.at("rules").as_array().at(0).as_object();
  EXPECT_EQ(r.at("name").as_string(), "dlq_growth");
  EXPECT_EQ(r.at("severity").as_string(), "warning");
  EXPECT_EQ(r.at("state").as_string(), "firing");
  EXPECT_EQ(r.at("value").as_int64(), 1);
  EXPECT_EQ(r.at("threshold").as_int64(), 0);
  EXPECT_EQ(r.at("window").as_int64(), 900);
  EXPECT_EQ(r.at("since").as_string(), "2027-01-15T08:00:01.000Z");
}

}  // namespace
}  // namespace ticketd::health
