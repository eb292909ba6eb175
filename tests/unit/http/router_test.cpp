#include "http/router.hpp"

#include <gtest/gtest.h>

namespace ticketd::http {
namespace {

Handler noop() {
  return [](Request&) -> boost::asio::awaitable<Response> { co_return Response{}; };
}

TEST(Router, MatchesLiteralAndParameters) {
  Router r;
  r.add(bhttp::verb::get, "/api/v1/orgs/:orgId/members/:userId", noop());
  auto m = r.match(bhttp::verb::get, "/api/v1/orgs/abc/members/42");
  ASSERT_NE(m.handler, nullptr);
  EXPECT_EQ(m.pattern, "/api/v1/orgs/:orgId/members/:userId");
  ASSERT_EQ(m.params.size(), 2u);
  EXPECT_EQ(m.params[0].first, "orgId");
  EXPECT_EQ(m.params[0].second, "abc");
  EXPECT_EQ(m.params[1].second, "42");
}

TEST(Router, LiteralBeatsParameterWhateverTheOrder) {
  Router r;
  r.add(bhttp::verb::get, "/me/:thing", noop());
  r.add(bhttp::verb::get, "/me/tickets", noop());
  EXPECT_EQ(r.match(bhttp::verb::get, "/me/tickets").pattern, "/me/tickets");
  EXPECT_EQ(r.match(bhttp::verb::get, "/me/other").pattern, "/me/:thing");
}

// Found by schemathesis: GET /payments/webhook answered the payment lookup's 404 "Payment not
// found" and OPTIONS advertised GET there.
TEST(Router, ALiteralResourceShadowsAParameterOneForEveryMethod) {
  Router r;
  r.add(bhttp::verb::get, "/payments/:paymentId", noop());
  r.add(bhttp::verb::post, "/payments/webhook", noop());
  r.add(bhttp::verb::get, "/events/:id", noop());
  r.add(bhttp::verb::patch, "/events/:eventId", noop());  // another name, the same resource
  auto wrong = r.match(bhttp::verb::get, "/payments/webhook");
  EXPECT_EQ(wrong.handler, nullptr);
  ASSERT_EQ(wrong.allowed.size(), 1u);
  EXPECT_EQ(wrong.allowed[0], bhttp::verb::post);
  EXPECT_EQ(r.match(bhttp::verb::post, "/payments/webhook").pattern, "/payments/webhook");
  auto lookup = r.match(bhttp::verb::get, "/payments/42");
  ASSERT_NE(lookup.handler, nullptr);
  EXPECT_EQ(lookup.params[0].second, "42");
  auto patch = r.match(bhttp::verb::patch, "/events/7");
  ASSERT_NE(patch.handler, nullptr);
  EXPECT_EQ(patch.params[0].first, "eventId");
  EXPECT_EQ(r.match(bhttp::verb::delete_, "/events/7").allowed.size(), 2u);
}

TEST(Router, UnknownPathIsNotFoundAndWrongMethodListsAllowed) {
  Router r;
  r.add(bhttp::verb::get, "/events/:id", noop());
  r.add(bhttp::verb::patch, "/events/:id", noop());
  auto none = r.match(bhttp::verb::get, "/nope");
  EXPECT_EQ(none.handler, nullptr);
  EXPECT_TRUE(none.allowed.empty());
  auto wrong = r.match(bhttp::verb::delete_, "/events/1");
  EXPECT_EQ(wrong.handler, nullptr);
  ASSERT_EQ(wrong.allowed.size(), 2u);
}

TEST(Router, SegmentCountMustMatchAndEmptySegmentsAreIgnored) {
  Router r;
  r.add(bhttp::verb::get, "/a/:b", noop());
  EXPECT_EQ(r.match(bhttp::verb::get, "/a").handler, nullptr);
  EXPECT_EQ(r.match(bhttp::verb::get, "/a/b/c").handler, nullptr);
  EXPECT_NE(r.match(bhttp::verb::get, "//a//x").handler, nullptr);
}

TEST(Router, RejectsBadPatternsAndDuplicates) {
  Router r;
  EXPECT_THROW(r.add(bhttp::verb::get, "no-slash", noop()), std::invalid_argument);
  EXPECT_THROW(r.add(bhttp::verb::get, "/a/:", noop()), std::invalid_argument);
  r.add(bhttp::verb::get, "/a", noop());
  EXPECT_THROW(r.add(bhttp::verb::get, "/a", noop()), std::invalid_argument);
  EXPECT_NO_THROW(r.add(bhttp::verb::post, "/a", noop()));
}

TEST(Router, CarriesRouteOptions) {
  Router r;
  r.add(bhttp::verb::post, "/orgs/:orgId/venues", noop(), RouteOptions{16u << 20});
  auto m = r.match(bhttp::verb::post, "/orgs/x/venues");
  ASSERT_NE(m.options, nullptr);
  EXPECT_EQ(m.options->body_limit, 16u << 20);
}

}  // namespace
}  // namespace ticketd::http
