#include "core/metrics.hpp"

#include <gtest/gtest.h>

#include "core/ids.hpp"
#include "core/log.hpp"
#include "core/time.hpp"

namespace ticketd::core {
namespace {

TEST(Metrics, RendersPrometheusText) {
  metrics::Registry r;
  auto& c = r.counter("t_requests_total", "Requests", {"route", "status"});
  c.with({"/a", "200"}).inc();
  c.with({"/a", "200"}).inc(2);
  c.with({"/b\"x", "500"}).inc();
  r.gauge("t_open", "Open").get().set(3);
  auto& h = r.histogram("t_latency_seconds", "Latency", {}, {0.1, 1.0});
  h.get().observe(0.05);
  h.get().observe(0.5);
  h.get().observe(5);
  const auto text = r.render();
  EXPECT_NE(text.find("# TYPE t_requests_total counter"), std::string::npos);
  EXPECT_NE(text.find("t_requests_total{route=\"/a\",status=\"200\"} 3"), std::string::npos);
  EXPECT_NE(text.find("route=\"/b\\\"x\""), std::string::npos) << "label values are escaped";
  EXPECT_NE(text.find("t_open 3"), std::string::npos);
  EXPECT_NE(text.find("t_latency_seconds_bucket{le=\"0.1\"} 1"), std::string::npos);
  EXPECT_NE(text.find("t_latency_seconds_bucket{le=\"1\"} 2"), std::string::npos);
  EXPECT_NE(text.find("t_latency_seconds_bucket{le=\"+Inf\"} 3"), std::string::npos);
  EXPECT_NE(text.find("t_latency_seconds_count 3"), std::string::npos);
}

TEST(Metrics, CollectorsRunBeforeRender) {
  metrics::Registry r;
  auto& g = r.gauge("t_pool", "Pool").get();
  int calls = 0;
  r.add_collector([&] {
    ++calls;
    g.set(calls);
  });
  EXPECT_NE(r.render().find("t_pool 1"), std::string::npos);
  EXPECT_NE(r.render().find("t_pool 2"), std::string::npos);
}

TEST(Ids, UuidsAreCanonicalAndDistinct) {
  const auto a = new_uuid();
  const auto b = new_uuid();
  EXPECT_TRUE(is_uuid(a));
  EXPECT_NE(a, b);
  EXPECT_EQ(a[14], '4');
  EXPECT_TRUE(is_uuid("123E4567-E89B-12D3-A456-426614174000"));
  EXPECT_FALSE(is_uuid("123e4567e89b12d3a456426614174000"));
  EXPECT_FALSE(is_uuid("not-a-uuid"));
  EXPECT_FALSE(is_uuid("123e4567-e89b-12d3-a456-42661417400g"));
}

TEST(Time, Iso8601WithMilliseconds) {
  using namespace std::chrono;
  const auto t = system_clock::time_point(milliseconds(1'700'000'000'123));
  EXPECT_EQ(iso8601(t), "2023-11-14T22:13:20.123Z");
}

TEST(Log, RendersOneJsonObjectWithFields) {
  const auto line = log::render(log::Level::kWarn, "hello \"x\"",
                                {{"requestId", "r1"}, {"count", 3}, {"ok", true}});
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_NE(line.find("\"level\":\"warn\""), std::string::npos);
  EXPECT_NE(line.find("\"message\":\"hello \\\"x\\\"\""), std::string::npos)
      << "the log format names the text key `message` (README)";
  EXPECT_NE(line.find("\"requestId\":\"r1\""), std::string::npos);
  EXPECT_NE(line.find("\"count\":3"), std::string::npos);
}

}  // namespace
}  // namespace ticketd::core

namespace ticketd::core {
namespace {

TEST(Metrics, SameNameReturnsTheSameFamily) {
  metrics::Registry r;
  auto& a = r.counter("t_shared_total", "Shared", {"x"});
  auto& b = r.counter("t_shared_total", "Shared", {"x"});
  EXPECT_EQ(&a, &b);
  EXPECT_THROW(r.counter("t_shared_total", "Shared", {"y"}), std::invalid_argument);
  a.with({"1"}).inc();
  const auto text = r.render();
  EXPECT_EQ(text.find("# TYPE t_shared_total"), text.rfind("# TYPE t_shared_total"));
}

TEST(Metrics, LabelSetsPastTheCapFoldIntoOneOverflowSeries) {
  metrics::Registry r;
  auto& c = r.counter("t_capped_total", "Capped", {"method", "route"}, 3);
  for (int i = 0; i < 3; ++i) c.with({"GET", "/r" + std::to_string(i)}).inc();
  // 10,000 invented label sets: memory and the scrape stay the size of the cap.
  for (int i = 0; i < 10'000; ++i) c.with({"X" + std::to_string(i), "/junk"}).inc();
  c.with({"GET", "/r1"}).inc();  // existing sets keep counting on their own series
  const auto text = r.render();
  EXPECT_NE(text.find("t_capped_total{method=\"GET\",route=\"/r1\"} 2"), std::string::npos);
  EXPECT_NE(text.find("t_capped_total{method=\"__overflow__\",route=\"__overflow__\"} 10000"),
            std::string::npos);
  EXPECT_EQ(text.find("X9999"), std::string::npos);
  EXPECT_NE(text.find("ticketd_metric_series_overflow_total{family=\"t_capped_total\"} 10000"),
            std::string::npos);
  std::size_t series = 0;
  c.for_each([&](const auto&, const auto&) { ++series; });
  EXPECT_EQ(series, 4u) << "three label sets and the overflow series";
}

TEST(Metrics, HistogramsAreCappedToo) {
  metrics::Registry r;
  auto& h = r.histogram("t_capped_seconds", "Capped", {"route"}, {0.1}, 1);
  h.with({"/a"}).observe(0.05);
  h.with({"/b"}).observe(0.05);
  h.with({"/c"}).observe(0.5);
  const auto text = r.render();
  EXPECT_NE(text.find("t_capped_seconds_count{route=\"__overflow__\"} 2"), std::string::npos);
  EXPECT_EQ(h.overflowed(), 2u);
}

}  // namespace
}  // namespace ticketd::core
