#include "infra/redis/asio_adapter.hpp"

#include <hiredis/async.h>

#include <boost/asio/error.hpp>
#include <exception>
#include <utility>

#include "core/log.hpp"

namespace ticketd::infra::redis {
namespace {

using boost::asio::posix::descriptor_base;

// hiredis calls the hooks from C; an exception must not unwind through it.
template <typename Fn>
void guarded(const char* hook, Fn&& fn) noexcept {
  try {
    fn();
  } catch (const std::exception& e) {
    core::log::error("redis event hook failed", {{"hook", hook}, {"error", e.what()}});
  } catch (...) {
    core::log::error("redis event hook failed", {{"hook", hook}, {"error", "unknown exception"}});
  }
}

}  // namespace

void AsioAdapter::attach(redisAsyncContext& ac, const Strand& strand) {
  // Registering the descriptor is the step that can fail; the hooks go in only after it worked.
  auto adapter = std::make_shared<AsioAdapter>(Private{}, ac, strand);
  adapter->self_ = adapter;
  ac.ev.data = adapter.get();
  ac.ev.addRead = &AsioAdapter::add_read;
  ac.ev.delRead = &AsioAdapter::del_read;
  ac.ev.addWrite = &AsioAdapter::add_write;
  ac.ev.delWrite = &AsioAdapter::del_write;
  ac.ev.cleanup = &AsioAdapter::cleanup;
}

AsioAdapter::AsioAdapter(Private, redisAsyncContext& ac, const Strand& strand)
    : ac_(&ac), socket_(strand, ac.c.fd) {}

AsioAdapter::~AsioAdapter() {
  // Normally released in detach(); never let the descriptor close hiredis' fd.
  if (socket_.is_open()) socket_.release();
}

void AsioAdapter::add_read(void* data) noexcept {
  guarded("addRead", [&] {
    auto* self = static_cast<AsioAdapter*>(data);
    self->want_read_ = true;
    self->arm_read();
  });
}

void AsioAdapter::del_read(void* data) noexcept {
  // An outstanding wait is left alone (cancel() would also cancel the write wait); when it fires
  // it sees want_read_ == false and does nothing.
  static_cast<AsioAdapter*>(data)->want_read_ = false;
}

void AsioAdapter::add_write(void* data) noexcept {
  guarded("addWrite", [&] {
    auto* self = static_cast<AsioAdapter*>(data);
    self->want_write_ = true;
    self->arm_write();
  });
}

void AsioAdapter::del_write(void* data) noexcept {
  static_cast<AsioAdapter*>(data)->want_write_ = false;
}

void AsioAdapter::cleanup(void* data) noexcept {
  guarded("cleanup", [&] { static_cast<AsioAdapter*>(data)->detach(); });
}

void AsioAdapter::arm_read() {
  if (read_armed_ || ac_ == nullptr) return;
  read_armed_ = true;
  // The descriptor's executor is the strand, so the handler runs there.
  socket_.async_wait(
      descriptor_base::wait_read,
      [self = shared_from_this()](boost::system::error_code ec) { self->on_readable(ec); });
}

void AsioAdapter::arm_write() {
  if (write_armed_ || ac_ == nullptr) return;
  write_armed_ = true;
  socket_.async_wait(
      descriptor_base::wait_write,
      [self = shared_from_this()](boost::system::error_code ec) { self->on_writable(ec); });
}

void AsioAdapter::on_readable(boost::system::error_code ec) {
  read_armed_ = false;
  if (ac_ == nullptr || ec == boost::asio::error::operation_aborted || !want_read_) return;
  // Other wait errors are left for hiredis to discover on the socket: it then tears down the
  // context and reports the loss through its callbacks.
  redisAsyncHandleRead(ac_);  // may free the context (cleanup -> detach sets ac_ = nullptr)
  if (ac_ != nullptr && want_read_) arm_read();
}

void AsioAdapter::on_writable(boost::system::error_code ec) {
  write_armed_ = false;
  if (ac_ == nullptr || ec == boost::asio::error::operation_aborted || !want_write_) return;
  redisAsyncHandleWrite(ac_);  // completes the connect on the first call; may free the context
  if (ac_ != nullptr && want_write_) arm_write();
}

void AsioAdapter::detach() {
  // Runs inside hiredis' free, before it closes the fd. Drop the self-reference last: outstanding
  // waits hold their own references and find ac_ == nullptr when they are aborted below.
  auto keep_alive = std::move(self_);
  if (ac_ != nullptr) {
    ac_->ev.data = nullptr;
    ac_->ev.addRead = nullptr;
    ac_->ev.delRead = nullptr;
    ac_->ev.addWrite = nullptr;
    ac_->ev.delWrite = nullptr;
    ac_->ev.cleanup = nullptr;
    ac_ = nullptr;
  }
  want_read_ = want_write_ = false;
  if (socket_.is_open()) socket_.release();  // aborts outstanding waits; hiredis closes the fd
}

}  // namespace ticketd::infra::redis
