#pragma once
// Server-sent events (text/event-stream) on a connection a handler took over: a handler returns
// a Response carrying a Stream; the server writes the stream's headers and then runs it until it
// ends. Producers on any thread push shared, immutable frames (each message serialized once for
// all its clients) into the stream's bounded queue; one writer per connection drains it with a
// write timeout, and a pending read notices at once when the client goes away.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/response.hpp"

namespace ticketd::http::sse {

// One serialized message ("id: …\nevent: …\ndata: …\n\n"), shared by every client queue.
using Frame = std::shared_ptr<const std::string>;

// Renders one message; `data` may span lines (each becomes a `data:` line). An empty `id` or
// `event` leaves that field out.
Frame frame(std::string_view event, std::string_view id, std::string_view data);

enum class CloseReason {
  kOpen,          // still running
  kClientGone,    // EOF, reset or a failed write
  kSlow,          // the queue passed its bound
  kWriteTimeout,  // one write took longer than the write timeout
  kShutdown,      // graceful server shutdown: queued frames are flushed first
  kEnded,         // the producer ended it (queued frames are flushed first)
};
std::string_view to_string(CloseReason r) noexcept;

struct Limits {
  std::size_t max_queued = 256;  // frames waiting for the socket; one more closes the stream
  std::chrono::milliseconds write_timeout{10'000};
  // How long the last frames and the terminating chunk may take after kShutdown/kEnded.
  std::chrono::milliseconds flush_timeout{1'000};
  // The socket's kernel send buffer (0: the system's autotuning, up to tcp_wmem's maximum, 4 MiB
  // per client). Fixed, it bounds the memory of many streams and makes the queue bound bite.
  int send_buffer = 256 * 1024;
};

class Stream : public std::enable_shared_from_this<Stream> {
 public:
  using CloseHandler = std::function<void(CloseReason)>;

  static std::shared_ptr<Stream> create(Limits limits) {
    return std::make_shared<Stream>(Private{}, limits);
  }

  // Any thread. Queues a frame; false when the stream is closed, or when this frame would pass
  // the queue bound (the stream then closes as kSlow and its queue is dropped).
  bool push(Frame f);
  // Any thread, idempotent: the first reason wins. kShutdown and kEnded let queued frames go
  // out first; the others drop them and cut the connection.
  void close(CloseReason why);
  bool open() const;
  CloseReason reason() const;
  std::size_t queued() const;

  // Runs once, on the connection's executor, when the stream has ended (whatever the cause, or
  // from the destructor if it never ran). Set before the server runs the stream.
  void on_close(CloseHandler handler);

  // Server side: writes `head` (the status line and headers, ending with an empty line) and
  // then the frames, chunked when `chunked`, until the stream closes or the client goes.
  // Completes with the reason. The socket is the caller's to close afterwards.
  boost::asio::awaitable<CloseReason> run(boost::asio::ip::tcp::socket& socket, std::string head,
                                          bool chunked);

  struct Private {};
  Stream(Private, Limits limits) : limits_(limits) {}
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

 private:
  boost::asio::awaitable<void> write_loop(boost::asio::ip::tcp::socket& socket, bool chunked);
  boost::asio::awaitable<void> watch_reads(boost::asio::ip::tcp::socket& socket);
  // Ends the stream as kWriteTimeout when one write takes longer than the write timeout (the
  // flush timeout once closing): cheaper than a timer per write.
  boost::asio::awaitable<void> watchdog(boost::asio::ip::tcp::socket& socket);
  // Under mutex_: wakes the writer (posted to its executor) if it waits.
  void wake_locked();
  void finish(CloseReason why);

  Limits limits_;
  mutable std::mutex mutex_;
  std::deque<Frame> queue_;
  CloseReason reason_ = CloseReason::kOpen;
  bool running_ = false;
  bool waiting_ = false;      // the writer waits on wake_
  bool wake_posted_ = false;  // a wake-up is on its way
  std::optional<boost::asio::any_io_executor> executor_;
  std::unique_ptr<boost::asio::steady_timer> wake_;
  std::unique_ptr<boost::asio::steady_timer> watchdog_;
  // The writer's current write (strand-only, like the timers).
  bool writing_ = false;
  boost::asio::steady_timer::time_point writing_since_;
  boost::asio::ip::tcp::socket* socket_ = nullptr;  // while running; touched on its executor only
  CloseHandler on_close_;
  bool closed_notified_ = false;
};

// The 200 answer that hands the connection to `stream`, with the headers proxies need (no
// buffering, no caching, no transformation).
Response respond(std::shared_ptr<Stream> stream);

}  // namespace ticketd::http::sse
