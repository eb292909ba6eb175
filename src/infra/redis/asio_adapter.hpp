#pragma once
// hiredis' async API on Asio. hiredis asks for five event hooks (addRead, delRead, addWrite,
// delWrite, cleanup); each wish to read or write becomes an async_wait on a stream_descriptor for
// the context's socket, and a ready socket becomes redisAsyncHandleRead/Write.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/strand.hpp>
#include <boost/system/error_code.hpp>
#include <memory>

struct redisAsyncContext;

namespace ticketd::infra::redis {

// Everything that touches one redisAsyncContext runs on one strand: hiredis is not thread-safe,
// and its callbacks may free the context in the middle of a call.
using Strand = boost::asio::strand<boost::asio::any_io_executor>;

class AsioAdapter : public std::enable_shared_from_this<AsioAdapter> {
 public:
  // Installs the event hooks on `ac`; call on `strand` right after redisAsyncConnect, before the
  // connect callback is set (setting it asks for the first write event). Throws
  // boost::system::system_error, leaving `ac` untouched, if the socket cannot be registered.
  //
  // The adapter keeps itself alive until hiredis calls cleanup (when it frees the context); there
  // it releases the descriptor instead of closing it, because hiredis owns and closes the fd.
  static void attach(redisAsyncContext& ac, const Strand& strand);

  ~AsioAdapter();
  AsioAdapter(const AsioAdapter&) = delete;
  AsioAdapter& operator=(const AsioAdapter&) = delete;

 private:
  struct Private {};

 public:
  AsioAdapter(Private, redisAsyncContext& ac, const Strand& strand);

 private:
  static void add_read(void* data) noexcept;
  static void del_read(void* data) noexcept;
  static void add_write(void* data) noexcept;
  static void del_write(void* data) noexcept;
  static void cleanup(void* data) noexcept;

  void arm_read();
  void arm_write();
  void on_readable(boost::system::error_code ec);
  void on_writable(boost::system::error_code ec);
  void detach();

  redisAsyncContext* ac_;  // null once hiredis has called cleanup
  boost::asio::posix::stream_descriptor socket_;
  bool want_read_ = false;
  bool want_write_ = false;
  bool read_armed_ = false;            // an async_wait(read) is outstanding
  bool write_armed_ = false;           // an async_wait(write) is outstanding
  std::shared_ptr<AsioAdapter> self_;  // hiredis holds only a raw pointer (ev.data)
};

}  // namespace ticketd::infra::redis
