#include "http/server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
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

}  // namespace

struct Server::Session {
  explicit Session(tcp::socket s) : stream(std::move(s)) {}
  beast::tcp_stream stream;
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
      rejected_(metrics
                    .counter("ticketd_http_connections_rejected_total",
                             "Connections refused because HTTP_MAX_CONNECTIONS was reached")
                    .get()) {}

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
  asio::co_spawn(acceptor_.get_executor(), accept_loop(), [this](std::exception_ptr e) {
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

void Server::unregister(std::uint64_t id) {
  std::lock_guard lock(sessions_mutex_);
  sessions_.erase(id);
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
    if (open_.load() >= static_cast<std::size_t>(options_.max_connections)) {
      rejected_.inc();
      boost::system::error_code ignored;
      socket.set_option(asio::socket_base::linger(true, 0), ignored);
      socket.close(ignored);
      continue;
    }
    socket.set_option(tcp::no_delay(true));
    auto session = std::make_shared<Session>(std::move(socket));
    const auto id = next_id_.fetch_add(1);
    {
      std::lock_guard lock(sessions_mutex_);
      sessions_.emplace(id, session);
    }
    open_.fetch_add(1);
    connections_.inc();
    auto ex = session->stream.get_executor();
    asio::co_spawn(ex, serve(std::move(session)), [this, id](std::exception_ptr e) {
      unregister(id);
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

asio::awaitable<void> Server::reject(Session& session, const std::string& remote_ip,
                                     bhttp::request<bhttp::string_body> head, core::ApiError err) {
  Request req(std::move(head), remote_ip);
  Dispatcher::assign_request_id(req);
  Response res = error(req.request_id(), err);
  dispatcher_.observe(req, res);
  bhttp::response<bhttp::string_body> msg{res.status, 11};
  msg.set(bhttp::field::content_type, res.content_type);
  msg.set("X-Request-Id", req.request_id());
  for (auto& [k, v] : res.headers) msg.set(k, v);
  msg.keep_alive(false);
  msg.body() = std::move(res.body);
  msg.prepare_payload();
  session.stream.expires_after(options_.write_timeout);
  co_await bhttp::async_write(session.stream, msg, kTuple);
}

asio::awaitable<void> Server::run_stream(Session& session, const Request& req, Response res) {
  // HTTP/1.1 gets a chunked body, so the end of a stream is distinguishable from a cut-off
  // connection; HTTP/1.0 a body delimited by the close.
  const bool chunked = req.raw().version() >= 11;
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

asio::awaitable<void> Server::serve(std::shared_ptr<Session> session) {
  auto& stream = session->stream;
  std::string remote_ip;
  {
    boost::system::error_code ec;
    auto ep = stream.socket().remote_endpoint(ec);
    if (!ec) remote_ip = ep.address().to_string();
  }
  beast::flat_buffer buffer;
  bool first = true;

  while (!draining_.load() || first) {
    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(options_.header_limit));
    // Beast compares Content-Length with the limit when the header completes, before we know the
    // route: admit the largest route limit there and apply the route's own limit just below.
    parser.body_limit(max_body_limit_);
    stream.expires_after(first ? options_.header_timeout : options_.idle_timeout);
    first = false;
    auto [ec, n] = co_await bhttp::async_read_header(stream, buffer, parser, kTuple);
    if (ec) {
      if (ec == bhttp::error::body_limit) {
        co_await reject(*session, remote_ip, parser.release(),
                        core::ApiError(core::ErrorKind::kTooLarge, "PAYLOAD_TOO_LARGE",
                                       "Request body is too large"));
      } else if (ec == bhttp::error::header_limit) {
        co_await reject(*session, remote_ip, {},
                        core::ApiError(core::ErrorKind::kTooLarge, "HEADERS_TOO_LARGE",
                                       "Request headers are too large"));
      } else if (is_parse_error(ec)) {
        co_await reject(
            *session, remote_ip, {},
            core::ApiError(core::ErrorKind::kInvalid, "BAD_REQUEST", "Malformed HTTP request"));
      }
      break;  // closed, timed out, or cancelled by shutdown
    }
    session->busy = true;
    const auto& head = parser.get();
    std::string path(head.target().substr(0, head.target().find('?')));
    const std::size_t limit =
        dispatcher_.body_limit(head.method(), path).value_or(options_.body_limit);
    if (parser.content_length() && *parser.content_length() > limit) {
      co_await reject(*session, remote_ip, parser.release(),
                      core::ApiError(core::ErrorKind::kTooLarge, "PAYLOAD_TOO_LARGE",
                                     "Request body is too large"));
      break;
    }
    parser.body_limit(limit);  // chunked bodies are checked as they arrive
    if (!parser.is_done()) {
      stream.expires_after(options_.body_timeout);
      auto [body_ec, body_n] = co_await bhttp::async_read(stream, buffer, parser, kTuple);
      if (body_ec) {
        if (body_ec == bhttp::error::body_limit) {
          co_await reject(*session, remote_ip, parser.release(),
                          core::ApiError(core::ErrorKind::kTooLarge, "PAYLOAD_TOO_LARGE",
                                         "Request body is too large"));
        } else if (is_parse_error(body_ec)) {
          co_await reject(*session, remote_ip, parser.release(),
                          core::ApiError(core::ErrorKind::kInvalid, "BAD_REQUEST",
                                         "Malformed HTTP request body"));
        }
        break;
      }
    }
    stream.expires_never();
    Request req(parser.release(), remote_ip);
    Response res = co_await dispatcher_.handle(req);
    if (res.stream && res.status == bhttp::status::ok) {
      co_await run_stream(*session, req, std::move(res));
      break;
    }

    const bool keep_alive = req.keep_alive() && !draining_.load();
    bhttp::response<bhttp::string_body> msg{res.status, req.raw().version()};
    if (!res.content_type.empty() && res.status != bhttp::status::not_modified) {
      msg.set(bhttp::field::content_type, res.content_type);
    }
    msg.set("X-Request-Id", req.request_id());
    if (!res.etag.empty()) msg.set(bhttp::field::etag, res.etag);
    for (auto& [k, v] : res.headers) msg.set(k, v);
    msg.keep_alive(keep_alive);
    msg.body() = std::move(res.body);
    msg.prepare_payload();
    stream.expires_after(options_.write_timeout);
    auto [wec, wn] = co_await bhttp::async_write(stream, msg, kTuple);
    session->busy = false;
    if (wec || !keep_alive) break;
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  stream.close();
}

}  // namespace ticketd::http
