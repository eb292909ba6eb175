// The HTTP server over real loopback sockets: framing, limits, keep-alive, envelopes and
// graceful shutdown, with a small router of its own (no external services).
#include "http/server.hpp"

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/parse.hpp>
#include <cstdio>

#include "http/envelope.hpp"
#include "http/sse.hpp"
#include "support/async.hpp"

namespace ticketd::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Router router;
    router.add(bhttp::verb::post, "/echo", [](Request& req) -> asio::awaitable<Response> {
      co_return ok(req, req.json(), "Echo");
    });
    router.add(bhttp::verb::get, "/items/:id", [](Request& req) -> asio::awaitable<Response> {
      co_return ok(req, boost::json::object{{"id", *req.param("id")}});
    });
    router.add(bhttp::verb::get, "/boom", [](Request&) -> asio::awaitable<Response> {
      throw std::runtime_error("secret internal detail");
      co_return Response{};
    });
    router.add(bhttp::verb::get, "/slow", [this](Request& req) -> asio::awaitable<Response> {
      asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(300));
      slow_started_ = true;
      co_await t.async_wait(asio::use_awaitable);
      co_return ok(req, boost::json::object{{"slow", true}});
    });
    router.add(
        bhttp::verb::post, "/big",
        [](Request& req) -> asio::awaitable<Response> {
          co_return ok(req, boost::json::object{{"bytes", req.body().size()}});
        },
        RouteOptions{4u << 20});
    RouteOptions guarded{4u << 20};
    guarded.authorize = [](Request& req) -> asio::awaitable<void> {
      if (req.header("X-Let-In") != "yes") {
        throw core::ApiError(core::ErrorKind::kForbidden, "FORBIDDEN", "Not you");
      }
      co_return;
    };
    router.add(
        bhttp::verb::post, "/guarded",
        [this](Request& req) -> asio::awaitable<Response> {
          ++guarded_calls_;
          co_return ok(req, boost::json::object{{"bytes", req.body().size()}});
        },
        std::move(guarded));
    router.add(bhttp::verb::get, "/events", [this](Request&) -> asio::awaitable<Response> {
      auto stream = sse::Stream::create(sse::Limits{});
      stream->push(sse::frame("hello", "1", "{\"n\":1}"));
      stream->on_close([this](sse::CloseReason why) {
        close_reason_ = why;
        closed_ = true;
      });
      {
        std::lock_guard lock(stream_mutex_);
        stream_ = stream;
      }
      co_return sse::respond(std::move(stream));
    });
    router.add(bhttp::verb::get, "/events-strict", [this](Request&) -> asio::awaitable<Response> {
      sse::Limits limits;
      limits.write_timeout = std::chrono::milliseconds(300);
      limits.send_buffer = 4096;
      auto stream = sse::Stream::create(limits);
      // Far more than the socket buffers of a client that does not read.
      stream->push(std::make_shared<const std::string>(8u << 20, 'x'));
      stream->on_close([this](sse::CloseReason why) {
        close_reason_ = why;
        closed_ = true;
      });
      co_return sse::respond(std::move(stream));
    });
    // Writes are bounded to one in flight (ShedsPastTheClassBound); nothing else is.
    router.add(bhttp::verb::post, "/slow-write", [this](Request& req) -> asio::awaitable<Response> {
      asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(300));
      slow_started_ = true;
      co_await t.async_wait(asio::use_awaitable);
      co_return ok(req, boost::json::object{{"slow", true}});
    });
    Shedder::Limits limits{};
    limits[static_cast<std::size_t>(TrafficClass::kWrites)] = 1;
    shedder_ = std::make_unique<Shedder>(limits, metrics_);
    dispatcher_ = std::make_unique<Dispatcher>(std::move(router), metrics_);
    dispatcher_->shed_with(*shedder_);
    ServerOptions o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.body_limit = 64 * 1024;
    o.header_timeout = std::chrono::milliseconds(500);
    o.idle_timeout = std::chrono::milliseconds(500);
    server_ = std::make_unique<Server>(rt_.ioc(), o, *dispatcher_, metrics_);
    server_->start();
  }

  void TearDown() override {
    server_->begin_shutdown();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!server_->stopped() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ASSERT_TRUE(server_->stopped());
  }

  tcp::socket connect() {
    tcp::socket s(client_ioc_);
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port()));
    return s;
  }

  bhttp::response<bhttp::string_body> send(tcp::socket& s, bhttp::request<bhttp::string_body> req) {
    req.prepare_payload();
    bhttp::write(s, req);
    beast::flat_buffer buf;
    bhttp::response<bhttp::string_body> res;
    bhttp::read(s, buf, res);
    return res;
  }

  bhttp::response<bhttp::string_body> request(bhttp::verb v, std::string target,
                                              std::string body = {},
                                              std::string content_type = "application/json",
                                              std::string request_id = {}) {
    auto s = connect();
    bhttp::request<bhttp::string_body> req{v, target, 11};
    req.set(bhttp::field::host, "localhost");
    if (!body.empty()) req.set(bhttp::field::content_type, content_type);
    if (!request_id.empty()) req.set("X-Request-Id", request_id);
    req.body() = std::move(body);
    return send(s, std::move(req));
  }

  static boost::json::object json(const bhttp::response<bhttp::string_body>& res) {
    return boost::json::parse(res.body()).as_object();
  }
  static std::string first_code(const bhttp::response<bhttp::string_body>& res) {
    return std::string(json(res)["errors"].as_array()[0].as_object()["code"].as_string());
  }

  ticketd::testing::AsyncRunner rt_{2};
  asio::io_context client_ioc_;
  core::metrics::Registry metrics_;
  std::unique_ptr<Shedder> shedder_;
  std::unique_ptr<Dispatcher> dispatcher_;
  std::unique_ptr<Server> server_;
  std::atomic<bool> slow_started_{false};
  std::atomic<int> guarded_calls_{0};
  std::mutex stream_mutex_;
  std::shared_ptr<sse::Stream> stream_;
  std::atomic<bool> closed_{false};
  std::atomic<sse::CloseReason> close_reason_{sse::CloseReason::kOpen};

  std::shared_ptr<sse::Stream> stream() {
    std::lock_guard lock(stream_mutex_);
    return stream_;
  }
  // Opens GET /events and reads until `want` has arrived (or the connection ends).
  std::string open_stream(tcp::socket& s, std::string_view want) {
    std::string req = "GET /events HTTP/1.1\r\nHost: x\r\nX-Request-Id: sse-1\r\n\r\n";
    asio::write(s, asio::buffer(req));
    return read_until(s, want);
  }
  static std::string read_until(tcp::socket& s, std::string_view want, std::string got = {}) {
    char buf[4096];
    while (got.find(want) == std::string::npos) {
      boost::system::error_code ec;
      const auto n = s.read_some(asio::buffer(buf), ec);
      if (ec) break;
      got.append(buf, n);
    }
    return got;
  }
};

TEST_F(ServerTest, EchoesJsonInTheEnvelope) {
  auto res = request(bhttp::verb::post, "/echo", R"({"a":[1,2]})");
  EXPECT_EQ(res.result(), bhttp::status::ok);
  EXPECT_EQ(json(res)["data"].as_object()["a"].as_array().size(), 2u);
  EXPECT_FALSE(res["X-Request-Id"].empty());
}

TEST_F(ServerTest, MalformedJsonIs400AndNonJsonIs415) {
  auto bad = request(bhttp::verb::post, "/echo", R"({"a":)");
  EXPECT_EQ(bad.result(), bhttp::status::bad_request);
  EXPECT_EQ(first_code(bad), "MALFORMED_JSON");
  auto text = request(bhttp::verb::post, "/echo", "a=1", "application/x-www-form-urlencoded");
  EXPECT_EQ(text.result(), bhttp::status::unsupported_media_type);
}

TEST_F(ServerTest, BodyOverTheLimitIs413WithRequestId) {
  auto res = request(bhttp::verb::post, "/echo", std::string(100 * 1024, ' '), "application/json",
                     "rid-413");
  EXPECT_EQ(res.result(), bhttp::status::payload_too_large);
  EXPECT_EQ(res["X-Request-Id"], "rid-413");
  EXPECT_EQ(json(res)["meta"].as_object()["requestId"], "rid-413");
  // A route with a larger limit accepts the same body.
  auto big = request(bhttp::verb::post, "/big", std::string(100 * 1024, ' '));
  EXPECT_EQ(big.result(), bhttp::status::ok);
}

TEST_F(ServerTest, NotFoundAndMethodNotAllowedUseTheEnvelope) {
  auto nf = request(bhttp::verb::get, "/nope", {}, {}, "abc");
  EXPECT_EQ(nf.result(), bhttp::status::not_found);
  EXPECT_EQ(nf["X-Request-Id"], "abc");
  EXPECT_EQ(json(nf)["success"], false);
  auto na = request(bhttp::verb::delete_, "/items/1");
  EXPECT_EQ(na.result(), bhttp::status::method_not_allowed);
  EXPECT_EQ(na["Allow"], "GET");
}

TEST_F(ServerTest, UnhandledExceptionIsAFixed500) {
  auto res = request(bhttp::verb::get, "/boom");
  EXPECT_EQ(res.result(), bhttp::status::internal_server_error);
  EXPECT_EQ(res.body().find("secret"), std::string::npos);
  EXPECT_EQ(first_code(res), "INTERNAL_ERROR");
}

TEST_F(ServerTest, InvalidRequestIdIsReplaced) {
  auto res = request(bhttp::verb::get, "/items/1", {}, {}, std::string(200, 'x'));
  EXPECT_NE(res["X-Request-Id"], std::string(200, 'x'));
  EXPECT_EQ(res["X-Request-Id"].size(), 36u);
}

TEST_F(ServerTest, KeepAliveServesManyRequestsOnOneConnection) {
  auto s = connect();
  for (int i = 0; i < 50; ++i) {
    bhttp::request<bhttp::string_body> req{bhttp::verb::get, "/items/" + std::to_string(i), 11};
    req.set(bhttp::field::host, "localhost");
    auto res = send(s, std::move(req));
    ASSERT_EQ(res.result(), bhttp::status::ok);
    EXPECT_EQ(json(res)["data"].as_object()["id"].as_string(), std::to_string(i));
  }
}

TEST_F(ServerTest, ConditionalGetAnswers304) {
  auto first = request(bhttp::verb::get, "/items/7");
  const std::string etag(first[bhttp::field::etag]);
  ASSERT_FALSE(etag.empty());
  auto s = connect();
  bhttp::request<bhttp::string_body> req{bhttp::verb::get, "/items/7", 11};
  req.set(bhttp::field::host, "localhost");
  req.set(bhttp::field::if_none_match, etag);
  auto res = send(s, std::move(req));
  EXPECT_EQ(res.result(), bhttp::status::not_modified);
  EXPECT_TRUE(res.body().empty());
}

TEST_F(ServerTest, GarbageIsA400AndTheConnectionCloses) {
  auto s = connect();
  asio::write(s, asio::buffer(std::string("NOT HTTP AT ALL\r\n\r\n")));
  beast::flat_buffer buf;
  bhttp::response<bhttp::string_body> res;
  bhttp::read(s, buf, res);
  EXPECT_EQ(res.result(), bhttp::status::bad_request);
  EXPECT_FALSE(res["X-Request-Id"].empty());
}

TEST_F(ServerTest, SilentClientIsDisconnectedAfterTheHeaderTimeout) {
  auto s = connect();
  const auto started = std::chrono::steady_clock::now();
  char byte;
  boost::system::error_code ec;
  s.read_some(asio::buffer(&byte, 1), ec);  // blocks until the server closes
  EXPECT_TRUE(ec);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(3));
}

TEST_F(ServerTest, ShutdownLetsInFlightRequestsFinishAndClosesIdleOnes) {
  auto idle = connect();
  auto busy = connect();
  bhttp::request<bhttp::string_body> req{bhttp::verb::get, "/slow", 11};
  req.set(bhttp::field::host, "localhost");
  req.prepare_payload();
  bhttp::write(busy, req);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!slow_started_ && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  server_->begin_shutdown();
  beast::flat_buffer buf;
  bhttp::response<bhttp::string_body> res;
  bhttp::read(busy, buf, res);
  EXPECT_EQ(res.result(), bhttp::status::ok) << "the in-flight request completes";
  EXPECT_FALSE(res.keep_alive());
  char byte;
  boost::system::error_code ec;
  idle.read_some(asio::buffer(&byte, 1), ec);
  EXPECT_TRUE(ec) << "the idle connection is closed";
  // New connections are refused.
  tcp::socket late(client_ioc_);
  late.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port()), ec);
  EXPECT_TRUE(ec);
}

TEST_F(ServerTest, EventStreamWritesHeadersThenChunkedFramesAsTheyArePushed) {
  auto s = connect();
  auto got = open_stream(s, "data: {\"n\":1}\n\n");
  EXPECT_TRUE(got.starts_with("HTTP/1.1 200 OK\r\n")) << got;
  EXPECT_NE(got.find("Content-Type: text/event-stream"), std::string::npos);
  EXPECT_NE(got.find("Cache-Control: no-cache, no-transform\r\n"), std::string::npos);
  EXPECT_NE(got.find("X-Accel-Buffering: no\r\n"), std::string::npos);
  EXPECT_NE(got.find("Transfer-Encoding: chunked\r\n"), std::string::npos);
  EXPECT_NE(got.find("X-Request-Id: sse-1\r\n"), std::string::npos);
  EXPECT_NE(got.find("id: 1\nevent: hello\ndata: {\"n\":1}\n\n\r\n"), std::string::npos) << got;
  // A frame pushed later, from another thread, goes out as its own chunk.
  auto frame = sse::frame("later", "2", "x");
  ASSERT_TRUE(stream()->push(frame));
  got = read_until(s, "data: x\n\n");
  char size_hex[32];
  std::snprintf(size_hex, sizeof size_hex, "%zx", frame->size());
  EXPECT_NE(got.find(std::string(size_hex) + "\r\nid: 2\nevent: later\ndata: x\n\n\r\n"),
            std::string::npos)
      << got;
  EXPECT_FALSE(closed_);
}

TEST_F(ServerTest, EventStreamNoticesADisconnectWithoutWriting) {
  auto s = connect();
  open_stream(s, "\n\n\r\n");
  ASSERT_FALSE(closed_);
  s.close();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (!closed_ && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_TRUE(closed_) << "a pending read sees the EOF";
  EXPECT_EQ(close_reason_.load(), sse::CloseReason::kClientGone);
  EXPECT_FALSE(stream()->push(sse::frame("x", "3", "y")));
}

TEST_F(ServerTest, EventStreamWriteThatTakesTooLongEndsTheStream) {
  tcp::socket s(client_ioc_);
  s.open(tcp::v4());
  s.set_option(asio::socket_base::receive_buffer_size(4096));
  s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port()));
  std::string req = "GET /events-strict HTTP/1.1\r\nHost: x\r\n\r\n";
  asio::write(s, asio::buffer(req));
  const auto started = std::chrono::steady_clock::now();
  const auto deadline = started + std::chrono::seconds(5);
  while (!closed_ && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_TRUE(closed_) << "the client never reads: the write must time out";
  EXPECT_EQ(close_reason_.load(), sse::CloseReason::kWriteTimeout);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(2));
}

TEST_F(ServerTest, ShutdownEndsEventStreamsAfterFlushingThem) {
  auto s = connect();
  open_stream(s, "\n\n\r\n");
  ASSERT_TRUE(stream()->push(sse::frame("last", "9", "bye")));
  server_->begin_shutdown();
  auto got = read_until(s, "0\r\n\r\n");
  EXPECT_NE(got.find("data: bye\n\n"), std::string::npos) << got;
  EXPECT_TRUE(got.ends_with("0\r\n\r\n")) << "the terminating chunk: a clean end, not a cut";
  char byte;
  boost::system::error_code ec;
  s.read_some(asio::buffer(&byte, 1), ec);
  EXPECT_TRUE(ec) << "and the connection closes";
  EXPECT_EQ(close_reason_.load(), sse::CloseReason::kShutdown);
}

TEST_F(ServerTest, ARouteAuthorizerAnswersOnTheHeadWithoutWaitingForTheBody) {
  auto s = connect();
  // 4 MiB announced, none sent: only an answer given on the head alone can arrive.
  const std::string head =
      "POST /guarded HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: 4000000\r\nX-Request-Id: head-1\r\n\r\n";
  asio::write(s, asio::buffer(head));
  beast::flat_buffer buf;
  bhttp::response<bhttp::string_body> res;
  bhttp::read(s, buf, res);
  EXPECT_EQ(res.result(), bhttp::status::forbidden);
  EXPECT_EQ(res["X-Request-Id"], "head-1");
  EXPECT_FALSE(res.keep_alive()) << "the unread body makes the connection unusable";
  EXPECT_EQ(guarded_calls_.load(), 0);
}

TEST_F(ServerTest, AnAdmittedRequestWithExpectContinueGets100ThenItsAnswer) {
  auto s = connect();
  const std::string body = R"({"n":1})";
  const std::string head =
      "POST /guarded HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "X-Let-In: yes\r\nExpect: 100-continue\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n";
  asio::write(s, asio::buffer(head));
  const auto interim = read_until(s, "\r\n\r\n");
  EXPECT_TRUE(interim.starts_with("HTTP/1.1 100 Continue")) << interim;
  asio::write(s, asio::buffer(body));
  const auto rest = read_until(s, "\"bytes\":7");
  EXPECT_NE(rest.find("HTTP/1.1 200"), std::string::npos) << rest;
  EXPECT_EQ(guarded_calls_.load(), 1);
}

TEST_F(ServerTest, InventedMethodsShareOneMetricLabel) {
  for (const char* m : {"BREW", "PROPFIND", "XYZZY"}) {
    auto s = connect();
    const std::string req = std::string(m) + " /items/1 HTTP/1.1\r\nHost: x\r\n\r\n";
    asio::write(s, asio::buffer(req));
    read_until(s, "\r\n\r\n");
  }
  const auto text = metrics_.render();
  EXPECT_EQ(text.find("XYZZY"), std::string::npos);
  EXPECT_EQ(text.find("BREW"), std::string::npos);
  EXPECT_NE(text.find("method=\"OTHER\""), std::string::npos);
  EXPECT_EQ(method_label(bhttp::verb::get), "GET");
  EXPECT_EQ(method_label(bhttp::verb::propfind), "OTHER");
}

TEST_F(ServerTest, HeadersOverTheLimitAre431) {
  auto s = connect();
  const std::string req =
      "GET /items/1 HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(64 * 1024, 'a') + "\r\n\r\n";
  boost::system::error_code ec;
  asio::write(s, asio::buffer(req), ec);  // the server may answer before taking it all
  const auto got = read_until(s, "\r\n\r\n");
  EXPECT_TRUE(got.starts_with("HTTP/1.1 431")) << got.substr(0, 100);
}

TEST_F(ServerTest, ShedsPastTheClassBoundAtOnceAndRecovers) {
  // One write in flight (the bound), a second write is refused at once with 503 + Retry-After;
  // reads are another class and pass; once the first finishes, writes pass again.
  auto busy = connect();
  bhttp::request<bhttp::string_body> slow{bhttp::verb::post, "/slow-write", 11};
  slow.set(bhttp::field::host, "localhost");
  slow.prepare_payload();
  bhttp::write(busy, slow);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!slow_started_ && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  ASSERT_TRUE(slow_started_);

  // The refused request's small body is skipped: its connection carries the retry.
  auto client = connect();
  bhttp::request<bhttp::string_body> echo{bhttp::verb::post, "/echo", 11};
  echo.set(bhttp::field::host, "localhost");
  echo.set(bhttp::field::content_type, "application/json");
  echo.body() = R"({"a":1})";
  const auto asked = std::chrono::steady_clock::now();
  auto shed = send(client, echo);
  EXPECT_LT(std::chrono::steady_clock::now() - asked, std::chrono::milliseconds(200));
  EXPECT_EQ(shed.result(), bhttp::status::service_unavailable);
  EXPECT_EQ(shed[bhttp::field::retry_after], "1");
  EXPECT_EQ(first_code(shed), "SERVER_BUSY");
  EXPECT_TRUE(shed.keep_alive());
  EXPECT_EQ(request(bhttp::verb::get, "/items/1").result(), bhttp::status::ok);

  beast::flat_buffer buf;
  bhttp::response<bhttp::string_body> res;
  bhttp::read(busy, buf, res);
  EXPECT_EQ(res.result(), bhttp::status::ok);
  EXPECT_EQ(send(client, echo).result(), bhttp::status::ok) << "same connection";
  EXPECT_EQ(shedder_->in_flight(TrafficClass::kWrites), 0U);
  EXPECT_NE(metrics_.render().find("ticketd_shed_total{class=\"writes\"} 1"), std::string::npos);
}

}  // namespace
}  // namespace ticketd::http
