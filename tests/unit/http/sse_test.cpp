#include "http/sse.hpp"

#include <gtest/gtest.h>

namespace ticketd::http::sse {
namespace {

TEST(SseFrame, RendersFieldsAndSplitsDataLines) {
  EXPECT_EQ(*frame("snapshot", "42", R"({"a":1})"), "id: 42\nevent: snapshot\ndata: {\"a\":1}\n\n");
  EXPECT_EQ(*frame("", "", "one\ntwo"), "data: one\ndata: two\n\n");
  EXPECT_EQ(*frame("e", "", ""), "event: e\ndata: \n\n");
}

TEST(SseStream, QueueBoundClosesTheStreamAsSlowAndDropsItsQueue) {
  Limits limits;
  limits.max_queued = 3;
  auto s = Stream::create(limits);
  auto f = frame("x", "1", "y");
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(s->push(f));
  EXPECT_EQ(s->queued(), 3u);
  EXPECT_FALSE(s->push(f)) << "the fourth passes the bound";
  EXPECT_FALSE(s->open());
  EXPECT_EQ(s->reason(), CloseReason::kSlow);
  EXPECT_EQ(s->queued(), 0u);
  EXPECT_FALSE(s->push(f)) << "closed for good";
  EXPECT_EQ(f.use_count(), 1) << "the shared frame is not held by a dead queue";
}

TEST(SseStream, FirstCloseReasonWinsAndGracefulClosesKeepTheQueue) {
  auto s = Stream::create(Limits{});
  EXPECT_TRUE(s->push(frame("x", "1", "y")));
  s->close(CloseReason::kShutdown);
  EXPECT_EQ(s->queued(), 1u) << "flushed by the writer before it ends";
  s->close(CloseReason::kSlow);
  EXPECT_EQ(s->reason(), CloseReason::kShutdown);
  auto hard = Stream::create(Limits{});
  EXPECT_TRUE(hard->push(frame("x", "1", "y")));
  hard->close(CloseReason::kWriteTimeout);
  EXPECT_EQ(hard->queued(), 0u);
}

TEST(SseStream, CloseHandlerRunsOnceEvenIfTheStreamNeverRan) {
  int calls = 0;
  CloseReason seen = CloseReason::kOpen;
  {
    auto s = Stream::create(Limits{});
    s->on_close([&](CloseReason why) {
      ++calls;
      seen = why;
    });
    s->close(CloseReason::kSlow);
  }
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(seen, CloseReason::kSlow);
}

}  // namespace
}  // namespace ticketd::http::sse
