#include "http/sse.hpp"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <variant>

namespace ticketd::http::sse {

namespace asio = boost::asio;
using asio::experimental::awaitable_operators::operator||;
using tcp = asio::ip::tcp;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

namespace {

// Frames written per system call at most (a backlog goes out in few large writes).
constexpr std::size_t kMaxBatch = 64;

bool graceful(CloseReason r) noexcept {
  return r == CloseReason::kShutdown || r == CloseReason::kEnded;
}

std::string hex(std::size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  do {
    out.insert(out.begin(), kDigits[n & 15]);
    n >>= 4;
  } while (n != 0);
  return out;
}

}  // namespace

Response respond(std::shared_ptr<Stream> stream) {
  Response r;
  r.content_type = "text/event-stream; charset=utf-8";
  r.header("Cache-Control", "no-cache, no-transform");
  r.header("X-Accel-Buffering", "no");
  r.stream = std::move(stream);
  return r;
}

Frame frame(std::string_view event, std::string_view id, std::string_view data) {
  std::string out;
  out.reserve(data.size() + event.size() + id.size() + 32);
  if (!id.empty()) {
    out += "id: ";
    out += id;
    out += '\n';
  }
  if (!event.empty()) {
    out += "event: ";
    out += event;
    out += '\n';
  }
  for (;;) {
    const auto nl = data.find('\n');
    out += "data: ";
    out += data.substr(0, nl);
    out += '\n';
    if (nl == std::string_view::npos) break;
    data.remove_prefix(nl + 1);
  }
  out += '\n';
  return std::make_shared<const std::string>(std::move(out));
}

std::string_view to_string(CloseReason r) noexcept {
  switch (r) {
    case CloseReason::kOpen:
      return "open";
    case CloseReason::kClientGone:
      return "client_gone";
    case CloseReason::kSlow:
      return "slow";
    case CloseReason::kWriteTimeout:
      return "write_timeout";
    case CloseReason::kShutdown:
      return "shutdown";
    case CloseReason::kEnded:
      return "ended";
  }
  return "unknown";
}

Stream::~Stream() {
  if (!closed_notified_ && on_close_) {
    on_close_(reason_ == CloseReason::kOpen ? CloseReason::kEnded : reason_);
  }
}

bool Stream::push(Frame f) {
  std::lock_guard lock(mutex_);
  if (reason_ != CloseReason::kOpen) return false;
  if (queue_.size() >= limits_.max_queued) {
    reason_ = CloseReason::kSlow;
    queue_.clear();
    wake_locked();
    return false;
  }
  queue_.push_back(std::move(f));
  wake_locked();
  return true;
}

void Stream::close(CloseReason why) {
  std::lock_guard lock(mutex_);
  if (reason_ != CloseReason::kOpen || why == CloseReason::kOpen) return;
  reason_ = why;
  if (!graceful(why)) queue_.clear();
  wake_locked();
}

bool Stream::open() const {
  std::lock_guard lock(mutex_);
  return reason_ == CloseReason::kOpen;
}

CloseReason Stream::reason() const {
  std::lock_guard lock(mutex_);
  return reason_;
}

std::size_t Stream::queued() const {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

void Stream::on_close(CloseHandler handler) {
  std::lock_guard lock(mutex_);
  on_close_ = std::move(handler);
}

void Stream::wake_locked() {
  if (!running_ || !executor_) return;
  const bool hard = reason_ != CloseReason::kOpen && !graceful(reason_);
  const bool closing = reason_ != CloseReason::kOpen;
  if (!closing && (!waiting_ || wake_posted_)) return;
  wake_posted_ = true;
  asio::post(*executor_, [self = shared_from_this(), hard] {
    {
      std::lock_guard lock(self->mutex_);
      self->wake_posted_ = false;
    }
    self->wake_->cancel();
    // The watchdog re-reads its deadline (a graceful close flushes under flush_timeout).
    if (self->watchdog_) self->watchdog_->cancel();
    // A slow client is cut off even in the middle of a write that waits for it.
    if (hard && self->socket_ != nullptr) {
      boost::system::error_code ignored;
      self->socket_->cancel(ignored);
    }
  });
}

asio::awaitable<CloseReason> Stream::run(tcp::socket& socket, std::string head, bool chunked) {
  auto ex = co_await asio::this_coro::executor;
  {
    std::lock_guard lock(mutex_);
    executor_ = ex;
    wake_ = std::make_unique<asio::steady_timer>(ex);
    watchdog_ = std::make_unique<asio::steady_timer>(ex);
    socket_ = &socket;
    running_ = true;
  }
  if (limits_.send_buffer > 0) {
    boost::system::error_code ignored;  // an unsupported option leaves the default
    socket.set_option(asio::socket_base::send_buffer_size(limits_.send_buffer), ignored);
  }
  {
    asio::steady_timer deadline(ex);
    deadline.expires_after(limits_.write_timeout);
    auto write = asio::async_write(socket, asio::buffer(head), kTuple);
    auto timeout = deadline.async_wait(kTuple);
    auto result = co_await (std::move(write) || std::move(timeout));
    if (result.index() == 1) {
      close(CloseReason::kWriteTimeout);
    } else {
      auto [ec, n] = std::get<0>(result);
      if (ec) close(CloseReason::kClientGone);
    }
  }
  bool go_on = false;
  {
    std::lock_guard lock(mutex_);
    go_on = reason_ == CloseReason::kOpen || graceful(reason_);
  }
  if (go_on) {
    // Three strands of one connection: the writer, a pending read (EOF), and a watchdog that cuts
    // a write that takes too long. One ends, the others are cancelled.
    auto writer = write_loop(socket, chunked);
    auto watcher = watch_reads(socket);
    auto guard = watchdog(socket);
    auto both = std::move(writer) || std::move(watcher);
    co_await (std::move(both) || std::move(guard));
  }
  CloseHandler handler;
  CloseReason why;
  {
    std::lock_guard lock(mutex_);
    if (reason_ == CloseReason::kOpen) reason_ = CloseReason::kClientGone;
    why = reason_;
    queue_.clear();
    running_ = false;
    socket_ = nullptr;
    handler = std::move(on_close_);
    closed_notified_ = true;
  }
  if (handler) handler(why);
  co_return why;
}

asio::awaitable<void> Stream::write_loop(tcp::socket& socket, bool chunked) {
  std::vector<Frame> batch;
  std::vector<asio::const_buffer> buffers;
  std::string chunk_head;
  static constexpr std::string_view kCrlf = "\r\n";
  static constexpr std::string_view kLastChunk = "0\r\n\r\n";
  for (;;) {
    bool last = false;
    batch.clear();
    {
      std::lock_guard lock(mutex_);
      if (reason_ != CloseReason::kOpen && !graceful(reason_)) co_return;
      const bool closing = reason_ != CloseReason::kOpen;
      while (!queue_.empty() && batch.size() < kMaxBatch) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      if (batch.empty()) {
        if (closing) {
          last = true;
        } else {
          waiting_ = true;
        }
      }
    }
    if (batch.empty() && !last) {
      wake_->expires_at(asio::steady_timer::time_point::max());
      co_await wake_->async_wait(kTuple);  // woken (cancelled) by a push or a close
      {
        std::lock_guard lock(mutex_);
        waiting_ = false;
      }
      // Cancelled by the parent (the client went away): stop here.
      auto state = co_await asio::this_coro::cancellation_state;
      if (state.cancelled() != asio::cancellation_type::none) co_return;
      continue;
    }
    buffers.clear();
    std::size_t total = 0;
    for (const auto& f : batch) total += f->size();
    if (chunked && total > 0) {
      chunk_head = hex(total);
      chunk_head += kCrlf;
      buffers.push_back(asio::buffer(chunk_head));
    }
    for (const auto& f : batch) buffers.push_back(asio::buffer(*f));
    if (chunked && total > 0) buffers.push_back(asio::buffer(kCrlf.data(), kCrlf.size()));
    if (last && chunked) buffers.push_back(asio::buffer(kLastChunk.data(), kLastChunk.size()));
    if (buffers.empty()) co_return;
    writing_since_ = asio::steady_timer::clock_type::now();
    writing_ = true;
    auto [wec, written] = co_await asio::async_write(socket, buffers, kTuple);
    writing_ = false;
    if (wec) {
      close(CloseReason::kClientGone);  // unless a timeout or a slow-client cut came first
      co_return;
    }
    if (last) co_return;
  }
}

asio::awaitable<void> Stream::watchdog(tcp::socket& socket) {
  using Clock = asio::steady_timer::clock_type;
  // How often an idle stream's watchdog looks; a write in progress is checked at its deadline.
  const auto idle_check =
      std::max<Clock::duration>(limits_.write_timeout / 2, std::chrono::milliseconds(100));
  for (;;) {
    bool closing = false;
    {
      std::lock_guard lock(mutex_);
      closing = reason_ != CloseReason::kOpen;
    }
    const auto limit = closing ? limits_.flush_timeout : limits_.write_timeout;
    const auto now = Clock::now();
    if (writing_ && now - writing_since_ >= limit) {
      close(CloseReason::kWriteTimeout);
      boost::system::error_code ignored;
      socket.cancel(ignored);  // the writer's pending write ends at once
      co_return;
    }
    watchdog_->expires_after(writing_ ? writing_since_ + limit - now : idle_check);
    co_await watchdog_->async_wait(kTuple);  // expired, or poked by a close
    auto state = co_await asio::this_coro::cancellation_state;
    if (state.cancelled() != asio::cancellation_type::none) co_return;
  }
}

asio::awaitable<void> Stream::watch_reads(tcp::socket& socket) {
  // Clients send nothing on a stream; whatever arrives (a pipelined request) is discarded. The
  // point is the pending read: it completes as soon as the peer closes or resets.
  char sink[512];
  for (;;) {
    auto [ec, n] = co_await socket.async_read_some(asio::buffer(sink), kTuple);
    if (ec) {
      if (ec != asio::error::operation_aborted) close(CloseReason::kClientGone);
      co_return;
    }
  }
}

}  // namespace ticketd::http::sse
