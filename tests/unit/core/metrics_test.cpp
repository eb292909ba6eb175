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
  EXPECT_NE(line.find("\"msg\":\"hello \\\"x\\\"\""), std::string::npos);
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

}  // namespace
}  // namespace ticketd::core
