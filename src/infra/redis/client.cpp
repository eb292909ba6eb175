#include "infra/redis/client.hpp"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <boost/asio/append.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <exception>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "core/errors.hpp"
#include "core/log.hpp"
#include "infra/redis/connection.hpp"

namespace ticketd::infra::redis {

using Clock = std::chrono::steady_clock;

// The instruments one command touches, resolved once per Client. They live in the Registry.
struct CommandInstruments {
  explicit CommandInstruments(Metrics& m)
      : ok(m.commands.with({"ok"})),
        error(m.commands.with({"error"})),
        unavailable(m.commands.with({"unavailable"})),
        timeout(m.commands.with({"timeout"})),
        duration(m.command_duration.get()),
        in_flight(m.commands_in_flight.get()) {}
  core::metrics::Counter& ok;
  core::metrics::Counter& error;
  core::metrics::Counter& unavailable;
  core::metrics::Counter& timeout;
  core::metrics::Histogram& duration;
  core::metrics::Gauge& in_flight;
};

namespace {

Reply to_reply(const redisReply& r) {
  Reply out;
  switch (r.type) {
    case REDIS_REPLY_STRING:
      out.type = Reply::Type::kString;
      out.str.assign(r.str, r.len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = Reply::Type::kStatus;
      out.str.assign(r.str, r.len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = Reply::Type::kError;
      out.str.assign(r.str, r.len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = Reply::Type::kInteger;
      out.integer = r.integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = Reply::Type::kArray;
      out.elements.reserve(r.elements);
      for (std::size_t i = 0; i < r.elements; ++i) out.elements.push_back(to_reply(*r.element[i]));
      break;
    default:  // REDIS_REPLY_NIL
      out.type = Reply::Type::kNil;
      break;
  }
  return out;
}

core::InfraError unavailable(const std::string& detail) {
  return core::InfraError(core::ErrorKind::kUnavailable, "REDIS_UNAVAILABLE", detail);
}

}  // namespace

// One command from the caller's co_await to its completion. Touched only on the strand; completes
// the caller exactly once although up to three parties may try (the reply or hiredis' NULL reply,
// the deadline, the connection going down).
class PendingCommand {
 public:
  enum class Failure { kUnavailable, kTimeout };

  explicit PendingCommand(const CommandInstruments& instruments) : instruments_(instruments) {}
  virtual ~PendingCommand() = default;
  PendingCommand(const PendingCommand&) = delete;
  PendingCommand& operator=(const PendingCommand&) = delete;

  bool done() const noexcept { return done_; }
  Clock::time_point deadline() const noexcept { return deadline_; }

  void mark_sent(std::chrono::milliseconds timeout) {
    sent_at_ = Clock::now();
    deadline_ = sent_at_ + timeout;
    sent_ = true;
    instruments_.in_flight.inc();
  }

  void succeed(Reply reply) noexcept {
    if (done_) return;
    finish(reply.is_error() ? instruments_.error : instruments_.ok, true);
    resume(nullptr, std::move(reply));
  }

  void fail(Failure failure, const std::string& detail) noexcept {
    if (done_) return;
    const bool timeout = failure == Failure::kTimeout;
    finish(timeout ? instruments_.timeout : instruments_.unavailable, timeout);
    std::exception_ptr error;
    try {
      error = std::make_exception_ptr(unavailable(detail));
    } catch (...) {
      error = std::current_exception();  // bad_alloc: the caller gets that instead
    }
    resume(std::move(error), Reply{});
  }

 protected:
  virtual void invoke(std::exception_ptr error, Reply reply) = 0;

 private:
  void finish(core::metrics::Counter& outcome, bool observe) noexcept {
    done_ = true;
    outcome.inc();
    if (!sent_) return;
    instruments_.in_flight.dec();
    if (observe) {
      instruments_.duration.observe(std::chrono::duration<double>(Clock::now() - sent_at_).count());
    }
  }

  void resume(std::exception_ptr error, Reply reply) noexcept {
    try {
      invoke(std::move(error), std::move(reply));
    } catch (const std::exception& e) {
      // Only allocation can fail here; the caller cannot be resumed, so say so loudly.
      core::log::error("redis command completion lost", {{"error", e.what()}});
    }
  }

  CommandInstruments instruments_;
  Clock::time_point sent_at_{};
  Clock::time_point deadline_ = Clock::time_point::max();
  bool sent_ = false;
  bool done_ = false;
};

namespace {

template <typename Handler>
class PendingCommandImpl final : public PendingCommand {
 public:
  PendingCommandImpl(const CommandInstruments& instruments, Handler handler)
      : PendingCommand(instruments),
        handler_(std::move(handler)),
        work_(boost::asio::make_work_guard(handler_)) {}

 private:
  void invoke(std::exception_ptr error, Reply reply) override {
    // Posted, not dispatched: the caller resumes on its own executor, and never inside hiredis'
    // read loop or on our strand.
    auto executor = work_.get_executor();
    boost::asio::post(executor,
                      boost::asio::append(std::move(handler_), std::move(error), std::move(reply)));
    work_.reset();
  }

  Handler handler_;
  boost::asio::executor_work_guard<boost::asio::associated_executor_t<Handler>> work_;
};

}  // namespace

std::shared_ptr<Client> Client::create(const boost::asio::any_io_executor& executor,
                                       Options options, Metrics& metrics) {
  return std::make_shared<Client>(Private{}, executor, std::move(options), metrics);
}

std::shared_ptr<Client> Client::create(const boost::asio::any_io_executor& executor,
                                       Options options, core::metrics::Registry& registry) {
  Metrics metrics(registry);
  return create(executor, std::move(options), metrics);
}

Client::Client(Private, const boost::asio::any_io_executor& executor, Options options,
               Metrics& metrics)
    : instruments_(std::make_unique<CommandInstruments>(metrics)),
      connection_(std::make_shared<Connection>(boost::asio::make_strand(executor),
                                               std::move(options), "command", metrics)),
      command_timeout_(connection_->options().command_timeout),
      max_in_flight_(connection_->options().max_in_flight),
      deadline_timer_(connection_->strand()) {}

Client::~Client() = default;

void Client::start() {
  if (started_.exchange(true) || stopped_.load()) return;
  // The hook holds this client until stop() has run on the strand (see Connection::start).
  connection_->start(
      {.on_up = {}, .on_down = [self = shared_from_this()](const std::string& reason) {
         self->on_down(reason);
       }});
}

void Client::stop() {
  if (stopped_.exchange(true)) return;
  connection_->stop();
}

boost::asio::awaitable<void> Client::async_stop() {
  stop();
  // A strand runs its handlers in order, so once this one has run, so has the stop.
  co_await boost::asio::post(connection_->strand(), boost::asio::use_awaitable);
}

bool Client::connected() const noexcept {
  return !stopped_.load() && connection_->up();
}

boost::asio::awaitable<Reply> Client::command(std::vector<std::string> args) {
  if (args.empty()) throw std::invalid_argument("a redis command needs a name");
  if (!connected()) {
    instruments_->unavailable.inc();
    throw unavailable("redis is not connected");
  }
  // A named initiation, not a lambda temporary inside the co_await expression: g++ 12 destroys
  // such a temporary's captures twice (double free of `args`, seen under ASan).
  auto initiation = [self = shared_from_this(), args = std::move(args)](auto handler) mutable {
    auto op = std::make_shared<PendingCommandImpl<decltype(handler)>>(*self->instruments_,
                                                                      std::move(handler));
    auto& strand = self->connection_->strand();
    boost::asio::post(
        strand, [self = std::move(self), op = std::move(op), args = std::move(args)]() mutable {
          self->send(std::move(op), args);
        });
  };
  co_return co_await boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&,
                                                 void(std::exception_ptr, Reply)>(
      std::move(initiation), boost::asio::use_awaitable);
}

boost::asio::awaitable<long long> Client::publish(std::string channel, std::string payload) {
  std::vector<std::string> args;
  args.reserve(3);
  args.emplace_back("PUBLISH");
  args.push_back(std::move(channel));
  args.push_back(std::move(payload));
  const Reply reply = co_await command(std::move(args));
  if (reply.type == Reply::Type::kInteger) co_return reply.integer;
  throw core::InfraError(
      core::ErrorKind::kInternal, "REDIS_ERROR",
      "PUBLISH failed: " + (reply.is_error() ? reply.str : std::string("unexpected reply type")));
}

void Client::send(std::shared_ptr<PendingCommand> op, const std::vector<std::string>& args) {
  try {
    redisAsyncContext* ac = connection_->context();
    if (ac == nullptr || stopped_.load()) {
      op->fail(PendingCommand::Failure::kUnavailable, "redis is not connected");
      return;
    }
    pop_completed();
    if (in_flight_.size() >= max_in_flight_) {
      op->fail(PendingCommand::Failure::kUnavailable, "too many redis commands in flight");
      return;
    }
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    argv.reserve(args.size());
    lens.reserve(args.size());
    for (const auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    // hiredis' privdata owns one reference; on_reply always runs exactly once for it (with the
    // reply, or with NULL when the context is freed), and deletes it.
    auto holder = std::make_unique<std::shared_ptr<PendingCommand>>(op);
    if (redisAsyncCommandArgv(ac, &Client::on_reply, holder.get(), static_cast<int>(argv.size()),
                              argv.data(), lens.data()) != REDIS_OK) {
      op->fail(PendingCommand::Failure::kUnavailable, "redis connection is closing");
      return;
    }
    [[maybe_unused]] auto* owned_by_hiredis = holder.release();
    op->mark_sent(command_timeout_);
    in_flight_.push_back(std::move(op));
    arm_deadline();
  } catch (const std::exception& e) {
    core::log::error("redis command could not be sent", {{"error", e.what()}});
    op->fail(PendingCommand::Failure::kUnavailable, "redis command could not be sent");
  }
}

void Client::on_reply(redisAsyncContext* /*ac*/, void* reply, void* privdata) noexcept {
  std::unique_ptr<std::shared_ptr<PendingCommand>> holder(
      static_cast<std::shared_ptr<PendingCommand>*>(privdata));
  PendingCommand& op = **holder;
  if (reply == nullptr) {
    // The context is being freed: connection lost, timeout recycling, or stop().
    op.fail(PendingCommand::Failure::kUnavailable, "redis connection lost before the reply");
    return;
  }
  if (op.done()) return;  // timed out earlier; this late reply has nobody waiting
  try {
    op.succeed(to_reply(*static_cast<const redisReply*>(reply)));
  } catch (const std::exception& e) {
    core::log::error("redis reply could not be converted", {{"error", e.what()}});
    op.fail(PendingCommand::Failure::kUnavailable, "redis reply could not be converted");
  }
}

void Client::pop_completed() {
  while (!in_flight_.empty() && in_flight_.front()->done()) in_flight_.pop_front();
}

void Client::arm_deadline() {
  if (deadline_armed_ || in_flight_.empty()) return;
  deadline_armed_ = true;
  deadline_timer_.expires_at(in_flight_.front()->deadline());
  // Also runs after cancel(): check_deadlines re-arms for whatever is in flight by then.
  deadline_timer_.async_wait([self = shared_from_this()](boost::system::error_code) {
    self->deadline_armed_ = false;
    self->check_deadlines();
  });
}

void Client::check_deadlines() {
  pop_completed();
  if (in_flight_.empty()) return;
  if (in_flight_.front()->deadline() > Clock::now()) {
    arm_deadline();
    return;
  }
  auto op = std::move(in_flight_.front());
  in_flight_.pop_front();
  op->fail(PendingCommand::Failure::kTimeout,
           "redis command timed out after " + std::to_string(command_timeout_.count()) + " ms");
  // Replies are ordered, so everything behind a stuck command would miss its deadline too, and a
  // silent connection may be half-open. Recycling it fails the rest as unavailable (on_down) and
  // reconnects after reconnect_min.
  connection_->reset("a command timed out");
}

void Client::on_down(const std::string& reason) {
  // hiredis has already failed every command it held (NULL replies); this covers the rest.
  for (auto& op : in_flight_) {
    op->fail(PendingCommand::Failure::kUnavailable, "redis connection lost: " + reason);
  }
  in_flight_.clear();
  deadline_timer_.cancel();
}

}  // namespace ticketd::infra::redis
