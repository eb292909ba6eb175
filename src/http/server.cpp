#include "http/server.hpp"

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include "core/errors.hpp"
#include "core/log.hpp"
#include "http/envelope.hpp"
#include "http/sse.hpp"

namespace ticketd::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

namespace {

// A framing error of Beast's parser (not a close, timeout or cancellation): the client gets 400.
bool is_parse_error(const boost::system::error_code& ec) {
  static const auto& beast_http = bhttp::make_error_code(bhttp::error::end_of_stream).category();
  return ec.category() == beast_http && ec != bhttp::error::end_of_stream &&
         ec != bhttp::error::partial_message;
}

// Connections being answered 503/429 at once; past this many a further one is reset instead, so
// a flood of connections costs a file descriptor for microseconds, not for a second each.
constexpr int kMaxTurningAway = 256;
// How long an answered-and-closing connection may keep sending what we will not read (a body
// we refused, a request we turned away): reading it to the end lets the client see our answer
// instead of a reset. Bounded in time and bytes.
constexpr auto kLingerTime = std::chrono::milliseconds(1'000);
constexpr std::size_t kLingerBytes = 32u << 20;

// Half-closes the connection and discards what the client still sends, within the bounds above.
asio::awaitable<void> linger_close(beast::tcp_stream& stream) {
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  std::array<char, std::size_t{16} * 1024> sink{};
  std::size_t drained = 0;
  stream.expires_after(kLingerTime);
  while (drained < kLingerBytes) {
    auto [ec, n] = co_await stream.async_read_some(asio::buffer(sink), kTuple);
    if (ec) break;
    drained += n;
  }
  stream.close();
}

// A request refused on its head with a body of at most this many bytes still has it read (and
// dropped), so the connection carries the client's retry: a 429 or a shed 503 must not cost a
// reconnect. Larger bodies (a 16 MiB layout refused 403) are never read.
constexpr std::size_t kSkippableBody = 64u << 10;

// Reads and drops a refused request's small body (at most kSkippableBody, checked by the caller)
// within `timeout`; true when the connection is then ready for the next request.
asio::awaitable<bool> skip_small_body(beast::tcp_stream& stream, beast::flat_buffer& buffer,
                                      bhttp::request_parser<bhttp::string_body>& parser,
                                      std::chrono::milliseconds timeout) {
  if (parser.is_done()) co_return true;
  parser.body_limit(kSkippableBody);
  stream.expires_after(timeout);
  auto [ec, n] = co_await bhttp::async_read(stream, buffer, parser, kTuple);
  stream.expires_never();
  co_return !ec;
}

// Writes `res` as the answer to `req` within `timeout`; false when the write failed.
asio::awaitable<bool> write_response(beast::tcp_stream& stream, const Request& req, Response res,
                                     bool keep_alive, std::chrono::milliseconds timeout) {
  bhttp::response<bhttp::string_body> msg{res.status, req.version() == 10 ? 10u : 11u};
  if (!res.content_type.empty() && res.status != bhttp::status::not_modified) {
    msg.set(bhttp::field::content_type, res.content_type);
  }
  msg.set("X-Request-Id", req.request_id());
  if (!res.etag.empty()) msg.set(bhttp::field::etag, res.etag);
  for (auto& [k, v] : res.headers) msg.set(k, v);
  msg.keep_alive(keep_alive);
  msg.body() = std::move(res.body);
  msg.prepare_payload();
  stream.expires_after(timeout);
  auto [ec, n] = co_await bhttp::async_write(stream, msg, kTuple);
  co_return !ec;
}

template <typename Socket>
std::string remote_address(const Socket& socket) {
  boost::system::error_code ec;
  auto ep = socket.remote_endpoint(ec);
  return ec ? std::string() : ep.address().to_string();
}

}  // namespace

struct Server::Session {
  Session(tcp::socket s, std::string ip) : stream(std::move(s)), remote_ip(std::move(ip)) {}
  beast::tcp_stream stream;
  std::string remote_ip;
  // True while a request is being handled: shutdown must not cut it off.
  bool busy = false;
  // The event stream this connection was handed to, if any: shutdown ends it gracefully.
  std::shared_ptr<sse::Stream> events;
};

Server::Server(asio::io_context& ioc, ServerOptions options, Dispatcher& dispatcher,
               core::metrics::Registry& metrics)
    : ioc_(ioc),
      options_(std::move(options)),
      dispatcher_(dispatcher),
      acceptor_(asio::make_strand(ioc)),
      connections_(metrics.gauge("ticketd_http_connections", "Open HTTP connections").get()),
      rejected_(metrics.counter("ticketd_http_connections_rejected_total",
                                "Connections refused by reason: max_connections "
                                "(HTTP_MAX_CONNECTIONS, 503), per_ip "
                                "(HTTP_MAX_CONNECTIONS_PER_IP, 429), reset (too many refused at "
                                "once to answer)",
                                {"reason"})) {}

Server::~Server() = default;

void Server::start() {
  const tcp::endpoint ep(asio::ip::make_address(options_.host), options_.port);
  acceptor_.open(ep.protocol());
  acceptor_.set_option(asio::socket_base::reuse_address(true));
  acceptor_.bind(ep);
  acceptor_.listen(asio::socket_base::max_listen_connections);
  bound_port_ = acceptor_.local_endpoint().port();
  max_body_limit_ = dispatcher_.largest_body_limit(options_.body_limit);
  accepting_.store(true);
  asio::co_spawn(acceptor_.get_executor(), accept_loop(), [this](const std::exception_ptr& e) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        core::log::error("accept loop failed", {{"error", ex.what()}});
      }
    }
    accepting_.store(false);  // last touch of `this`: stopped() may now report true
  });
}

void Server::begin_shutdown() {
  if (draining_.exchange(true)) return;
  asio::post(acceptor_.get_executor(), [this] {
    boost::system::error_code ec;
    acceptor_.close(ec);
  });
  std::lock_guard lock(sessions_mutex_);
  for (auto& [id, weak] : sessions_) {
    if (auto s = weak.lock()) {
      asio::post(s->stream.get_executor(), [s] {
        if (s->events) {
          s->events->close(sse::CloseReason::kShutdown);
        } else if (!s->busy) {
          boost::system::error_code ignored;  // the socket may already be closed
          s->stream.socket().cancel(ignored);
        }
      });
    }
  }
}

std::string Server::client_ip(const bhttp::request_header<>& head, const std::string& peer) const {
  if (options_.trusted_proxies.empty()) return peer;
  std::string forwarded;
  // Every X-Forwarded-For line, in order (a proxy may add its own line instead of appending).
  const auto [first, last] = head.equal_range("X-Forwarded-For");
  for (auto it = first; it != last; ++it) {
    if (!forwarded.empty()) forwarded += ',';
    forwarded += std::string_view(it->value().data(), it->value().size());
  }
  return options_.trusted_proxies.client_ip(peer, forwarded);
}

void Server::unregister(std::uint64_t id, const std::string& remote_ip) {
  std::lock_guard lock(sessions_mutex_);
  sessions_.erase(id);
  if (auto it = per_ip_.find(remote_ip); it != per_ip_.end() && --it->second <= 0) {
    per_ip_.erase(it);
  }
}

asio::awaitable<void> Server::accept_loop() {
  while (!draining_.load()) {
    auto [ec, socket] = co_await acceptor_.async_accept(asio::make_strand(ioc_), kTuple);
    if (ec) {
      if (ec == asio::error::operation_aborted || draining_.load()) break;
      // EMFILE and friends: back off briefly instead of spinning.
      core::log::warn("accept failed", {{"error", ec.message()}});
      asio::steady_timer t(acceptor_.get_executor(), std::chrono::milliseconds(50));
      co_await t.async_wait(kTuple);
      continue;
    }
    std::string remote_ip = remote_address(socket);
    std::optional<core::ApiError> refusal;
    const char* reason = nullptr;
    if (open_.load() >= static_cast<std::size_t>(options_.max_connections)) {
      reason = "max_connections";
      refusal.emplace(core::ErrorKind::kUnavailable, "SERVER_BUSY",
                      "The server has too many open connections, retry later");
    } else {
      std::lock_guard lock(sessions_mutex_);
      int& count = per_ip_[remote_ip];
      if (count >= options_.max_connections_per_ip) {
        reason = "per_ip";
        refusal.emplace(core::ErrorKind::kRateLimited, "TOO_MANY_CONNECTIONS",
                        "Too many open connections from this address");
      } else {
        ++count;
      }
    }
    if (refusal) {
      refusal->with_retry_after(1);
      if (turning_away_.load() >= kMaxTurningAway) {
        rejected_.with({"reset"}).inc();
        boost::system::error_code ignored;
        socket.set_option(asio::socket_base::linger(true, 0), ignored);
        socket.close(ignored);
        continue;
      }
      rejected_.with({reason}).inc();
      turning_away_.fetch_add(1);
      open_.fetch_add(1);  // stopped() waits for the answer too
      auto ex = socket.get_executor();
      asio::co_spawn(ex, turn_away(std::move(socket), std::move(*refusal)),
                     [this](const std::exception_ptr&) {
                       turning_away_.fetch_sub(1);
                       open_.fetch_sub(1);  // last touch of `this`
                     });
      continue;
    }
    boost::system::error_code no_delay_ec;  // best effort; must not end the accept loop
    socket.set_option(tcp::no_delay(true), no_delay_ec);
    auto session = std::make_shared<Session>(std::move(socket), remote_ip);
    const auto id = next_id_.fetch_add(1);
    {
      std::lock_guard lock(sessions_mutex_);
      sessions_.emplace(id, session);
    }
    open_.fetch_add(1);
    connections_.inc();
    auto ex = session->stream.get_executor();
    asio::co_spawn(ex, serve(std::move(session)),
                   [this, id, remote_ip = std::move(remote_ip)](const std::exception_ptr& e) {
                     unregister(id, remote_ip);
                     connections_.dec();
                     if (e) {
                       try {
                         std::rethrow_exception(e);
                       } catch (const std::exception& ex) {
                         core::log::error("connection failed", {{"error", ex.what()}});
                       }
                     }
                     open_.fetch_sub(1);  // last touch of `this`: stopped() may now report true
                   });
  }
}

asio::awaitable<void> Server::turn_away(tcp::socket socket, core::ApiError err) {
  beast::tcp_stream stream(std::move(socket));
  // Answered before the request is read (that is the point): the request id is our own.
  Request req(bhttp::request_header<>{}, remote_address(stream.socket()));
  Dispatcher::assign_request_id(req);
  Response res = error(req.request_id(), err);
  const bool written = co_await write_response(stream, req, std::move(res), false, kLingerTime);
  if (written) co_await linger_close(stream);
}

asio::awaitable<void> Server::reject(Session& session, Request& req, core::ApiError err) {
  if (req.request_id().empty()) Dispatcher::assign_request_id(req);
  Response res = error(req.request_id(), err);
  dispatcher_.observe(req, res);
  co_await write_response(session.stream, req, std::move(res), false, options_.write_timeout);
}

asio::awaitable<void> Server::run_stream(Session& session, const Request& req, Response res) {
  // HTTP/1.1 gets a chunked body, so the end of a stream is distinguishable from a cut-off
  // connection; HTTP/1.0 a body delimited by the close.
  const bool chunked = req.version() >= 11;
  std::string head = chunked ? "HTTP/1.1 200 OK\r\n" : "HTTP/1.0 200 OK\r\n";
  auto add = [&head](std::string_view name, std::string_view value) {
    head += name;
    head += ": ";
    head += value;
    head += "\r\n";
  };
  add("Content-Type", res.content_type);
  add("X-Request-Id", req.request_id());
  for (const auto& [k, v] : res.headers) add(k, v);
  if (chunked) {
    add("Transfer-Encoding", "chunked");
    add("Connection", "keep-alive");
  } else {
    add("Connection", "close");
  }
  head += "\r\n";
  session.events = res.stream;
  if (draining_.load()) session.events->close(sse::CloseReason::kShutdown);
  auto stream = std::move(res.stream);
  co_await stream->run(session.stream.socket(), std::move(head), chunked);
  session.events.reset();
}

// One connection's request loop. Kept in one piece on purpose (~110 lines): every step decides
// whether the connection may carry another request (bytes left unread, keep-alive, draining),
// and splitting it would thread that state through each helper; the steps it calls (admit,
// reject, write_response, run_stream, linger_close) hold the detail.
asio::awaitable<void> Server::serve(std::shared_ptr<Session> session) {
  auto& stream = session->stream;
  beast::flat_buffer buffer;
  bool first = true;
  // Set when the connection ends with request bytes we chose not to read.
  bool unread = false;

  while (!draining_.load() || first) {
    if (!first && buffer.size() == 0) {
      // Kept alive: wait idle_timeout for the next request to begin. Its head then gets the
      // header timeout like the first one did, so nobody trickles headers for a minute.
      stream.expires_after(options_.idle_timeout);
      auto [ec, n] = co_await stream.async_read_some(buffer.prepare(4096), kTuple);
      if (ec) break;
      buffer.commit(n);
    }
    stream.expires_after(options_.header_timeout);  // the first request's: from accept
    first = false;
    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(options_.header_limit));
    // Beast compares Content-Length with the limit when the head completes, before we know the
    // route: admit the largest route limit there and apply the route's own limit below.
    parser.body_limit(max_body_limit_);
    auto [ec, n] = co_await bhttp::async_read_header(stream, buffer, parser, kTuple);
    if (ec) {
      std::optional<core::ApiError> err;
      if (ec == bhttp::error::body_limit) {
        err.emplace(core::ErrorKind::kTooLarge, "PAYLOAD_TOO_LARGE", "Request body is too large");
      } else if (ec == bhttp::error::header_limit) {
        err.emplace(core::ErrorKind::kHeadersTooLarge, "HEADERS_TOO_LARGE",
                    "Request headers are too large");
      } else if (is_parse_error(ec)) {
        err.emplace(core::ErrorKind::kInvalid, "BAD_REQUEST", "Malformed HTTP request");
      }
      if (err) {
        // A head too large or malformed is not a request we can route: count it as unmatched.
        Request bad(ec == bhttp::error::body_limit ? std::move(parser.get().base())
                                                   : bhttp::request_header<>{},
                    session->remote_ip);
        co_await reject(*session, bad, std::move(*err));
        unread = true;
      }
      break;  // closed, timed out, or cancelled by shutdown
    }
    session->busy = true;
    // The client's clock stops while we decide: authentication may wait on the database.
    stream.expires_never();
    // The parser keeps reading the body into its own message; the head is ours from here.
    std::string client = client_ip(parser.get().base(), session->remote_ip);
    Request req(std::move(parser.get().base()), std::move(client));
    auto admission = co_await dispatcher_.admit(req, options_.body_limit);
    if (admission.answer) {
      // Refused on its head (404, 401, 403, 429, 503, ...), answered at once. A large body is
      // never read, so the connection cannot carry another request; a small one is skipped
      // after the answer, to keep the connection for the client's retry.
      const auto length = parser.content_length();
      // A client that sent Expect: 100-continue waits for our go before sending its body.
      const bool small =
          parser.is_done() || (length && *length <= kSkippableBody &&
                               !beast::iequals(req.header(bhttp::field::expect), "100-continue"));
      const bool reusable = small && req.keep_alive() && !draining_.load();
      const bool written = co_await write_response(stream, req, std::move(*admission.answer),
                                                   reusable, options_.write_timeout);
      session->busy = false;
      bool skipped = false;
      if (written && reusable) {
        skipped = co_await skip_small_body(stream, buffer, parser, options_.body_timeout);
      }
      if (skipped) continue;
      unread = written && !parser.is_done();
      break;
    }
    if (parser.content_length() && *parser.content_length() > admission.body_limit) {
      core::ApiError too_large(core::ErrorKind::kTooLarge, "PAYLOAD_TOO_LARGE",
                               "Request body is too large");
      co_await reject(*session, req, std::move(too_large));
      unread = true;
      break;
    }
    parser.body_limit(admission.body_limit);  // chunked bodies are checked as they arrive
    if (!parser.is_done()) {
      if (req.version() >= 11 && beast::iequals(req.header(bhttp::field::expect), "100-continue")) {
        // The client waits for this before sending a large body (curl does above 1 MiB).
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        stream.expires_after(options_.write_timeout);
        auto [wec, wn] = co_await asio::async_write(stream, asio::buffer(kContinue), kTuple);
        if (wec) break;
      }
      stream.expires_after(options_.body_timeout);
      auto [body_ec, body_n] = co_await bhttp::async_read(stream, buffer, parser, kTuple);
      if (body_ec) {
        std::optional<core::ApiError> err;
        if (body_ec == bhttp::error::body_limit) {
          err.emplace(core::ErrorKind::kTooLarge, "PAYLOAD_TOO_LARGE", "Request body is too large");
          unread = true;
        } else if (is_parse_error(body_ec)) {
          err.emplace(core::ErrorKind::kInvalid, "BAD_REQUEST", "Malformed HTTP request body");
        }
        if (err) co_await reject(*session, req, std::move(*err));
        break;
      }
    }
    stream.expires_never();
    req.set_body(std::move(parser.get().body()));
    Response res = co_await dispatcher_.respond(req, admission);
    if (res.stream && res.status == bhttp::status::ok) {
      co_await run_stream(*session, req, std::move(res));
      break;
    }
    const bool keep_alive = req.keep_alive() && !draining_.load();
    const bool written =
        co_await write_response(stream, req, std::move(res), keep_alive, options_.write_timeout);
    session->busy = false;
    if (!written || !keep_alive) break;
  }
  if (unread) {
    co_await linger_close(stream);
    co_return;
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  stream.close();
}

}  // namespace ticketd::http
