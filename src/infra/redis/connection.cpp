#include "infra/redis/connection.hpp"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <exception>
#include <string_view>
#include <utility>
#include <vector>

#include "core/log.hpp"

namespace ticketd::infra::redis {
namespace {

std::string error_text(const redisContext& c, std::string_view fallback) {
  if (c.err != 0 && c.errstr[0] != '\0') return c.errstr;
  return std::string(fallback);
}

template <typename Fn>
void guarded(const char* where, Fn&& fn) noexcept {
  try {
    fn();
  } catch (const std::exception& e) {
    core::log::error("redis connection callback failed", {{"where", where}, {"error", e.what()}});
  } catch (...) {
    core::log::error("redis connection callback failed",
                     {{"where", where}, {"error", "unknown exception"}});
  }
}

}  // namespace

Connection::Connection(Strand strand, Options options, std::string role, Metrics& metrics)
    : strand_(std::move(strand)),
      options_(std::move(options)),
      role_(std::move(role)),
      target_(describe(options_)),
      up_gauge_(metrics.connection_up.with({role_})),
      reconnects_(metrics.reconnects.with({role_})),
      resolver_(strand_),
      attempt_timer_(strand_),
      retry_timer_(strand_),
      rng_(std::random_device{}()) {
  validate(options_);
}

Connection::~Connection() {
  // Unreachable in practice: while a context exists a strand handler or the hooks' owner holds
  // this object, and stop() frees the context first. Freeing here keeps the fd from leaking.
  if (ac_ != nullptr) {
    closing_ = true;
    redisAsyncFree(std::exchange(ac_, nullptr));
  }
}

void Connection::start(Hooks hooks) {
  if (stop_requested_.load()) return;
  boost::asio::post(strand_, [self = shared_from_this(), hooks = std::move(hooks)]() mutable {
    if (self->state_ != State::kIdle) return;
    self->hooks_ = std::move(hooks);
    self->begin_attempt();
  });
}

void Connection::stop() {
  if (stop_requested_.exchange(true)) return;
  up_.store(false, std::memory_order_release);
  // Posted even when called on the strand: stop() may come from a handler that hiredis is
  // running, and freeing the context there would pull it out from under hiredis.
  boost::asio::post(strand_, [self = shared_from_this()] { self->do_stop(); });
}

redisAsyncContext* Connection::context() const noexcept {
  return state_ == State::kUp ? ac_ : nullptr;
}

bool Connection::connecting() const noexcept {
  return state_ == State::kResolving || state_ == State::kConnecting ||
         state_ == State::kHandshaking;
}

void Connection::begin_attempt() {
  state_ = State::kResolving;
  const auto gen = ++gen_;
  attempt_timer_.expires_after(options_.connect_timeout);
  attempt_timer_.async_wait([self = shared_from_this(), gen](boost::system::error_code ec) {
    if (ec || gen != self->gen_ || !self->connecting()) return;
    self->attempt_failed(gen, "connect timed out after " +
                                  std::to_string(self->options_.connect_timeout.count()) + " ms");
  });

  boost::system::error_code ec;
  const auto literal = boost::asio::ip::make_address(options_.host, ec);
  if (!ec) {
    open(literal.to_string());
    return;
  }
  // hiredis would resolve a name with a blocking getaddrinfo on this I/O thread; Asio's resolver
  // runs it on its own thread and we hand hiredis an address.
  resolver_.async_resolve(
      options_.host, std::to_string(options_.port),
      [self = shared_from_this(), gen](
          boost::system::error_code rec,
          const boost::asio::ip::tcp::resolver::results_type& results) {
        if (gen != self->gen_ || self->state_ != State::kResolving) return;
        if (rec || results.empty()) {
          self->attempt_failed(
              gen, "cannot resolve host: " + (rec ? rec.message() : std::string("no addresses")));
          return;
        }
        // Rotate through the addresses across attempts, so one dead address does not pin us.
        auto it = results.begin();
        std::advance(it, static_cast<std::ptrdiff_t>(self->attempt_ % results.size()));
        self->open(it->endpoint().address().to_string());
      });
}

void Connection::open(const std::string& address) {
  state_ = State::kConnecting;
  redisAsyncContext* ac = redisAsyncConnect(address.c_str(), options_.port);
  if (ac == nullptr) {
    attempt_failed(gen_, "cannot allocate a hiredis context");
    return;
  }
  if (ac->err != 0) {
    // Refused at once (loopback does that): there are no callbacks or hooks yet to run.
    const std::string reason = error_text(ac->c, "connect failed");
    redisAsyncFree(ac);
    attempt_failed(gen_, reason);
    return;
  }
  try {
    AsioAdapter::attach(*ac, strand_);
  } catch (const std::exception& e) {
    redisAsyncFree(ac);
    attempt_failed(gen_, std::string("cannot watch the socket: ") + e.what());
    return;
  }
  ac->data = this;
  ac_ = ac;
  redisAsyncSetDisconnectCallback(ac, &Connection::on_disconnect);
  // Asks for the first write event: that is when hiredis learns the outcome of connect(2).
  redisAsyncSetConnectCallback(ac, &Connection::on_connect);
}

void Connection::on_connect(const redisAsyncContext* cac, int status) noexcept {
  auto* ac = const_cast<redisAsyncContext*>(cac);
  auto* self = static_cast<Connection*>(ac->data);
  if (self == nullptr || self->ac_ != ac) return;
  guarded("onConnect", [&] {
    if (status != REDIS_OK) {
      // hiredis frees the context as soon as we return (and calls no onDisconnect for it).
      self->ac_ = nullptr;
      boost::asio::post(self->strand_, [s = self->shared_from_this(), gen = self->gen_,
                                        reason = error_text(ac->c, "connect failed")] {
        s->attempt_failed(gen, reason);
      });
      return;
    }
    // A silent peer (host gone without a RST) is noticed by TCP keepalive, not only by timeouts.
    redisEnableKeepAlive(&ac->c);
    self->state_ = State::kHandshaking;
    self->send_handshake();
  });
}

void Connection::send_handshake() {
  handshake_pending_ = 0;
  handshake_failed_ = false;
  std::vector<std::string> commands[3];
  std::size_t n = 0;
  if (!options_.password.empty()) {
    if (options_.username.empty()) {
      commands[n++] = {"AUTH", options_.password};
    } else {
      commands[n++] = {"AUTH", options_.username, options_.password};
    }
  }
  if (options_.db != 0) commands[n++] = {"SELECT", std::to_string(options_.db)};
  // Always PING: proves a Redis (not some other service) answers and that it is not LOADING.
  commands[n++] = {"PING"};

  for (std::size_t i = 0; i < n; ++i) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    for (const auto& a : commands[i]) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    if (redisAsyncCommandArgv(ac_, &Connection::on_handshake_reply, this,
                              static_cast<int>(argv.size()), argv.data(),
                              lens.data()) != REDIS_OK) {
      handshake_failed_ = true;
      boost::asio::post(strand_, [s = shared_from_this(), gen = gen_] {
        s->attempt_failed(gen, "cannot queue the handshake");
      });
      return;
    }
    ++handshake_pending_;
  }
}

void Connection::on_handshake_reply(redisAsyncContext* ac, void* r, void* privdata) noexcept {
  // A NULL reply means the context is being freed; whoever freed it reports why.
  if (r == nullptr) return;
  auto* self = static_cast<Connection*>(privdata);
  if (self->ac_ != ac || self->state_ != State::kHandshaking || self->handshake_failed_) return;
  guarded("handshake", [&] {
    const auto* reply = static_cast<const redisReply*>(r);
    if (reply->type == REDIS_REPLY_ERROR) {
      self->handshake_failed_ = true;
      // Redis' own text (WRONGPASS, NOAUTH, LOADING, DB index out of range); no password in it.
      std::string reason = "handshake refused: " + std::string(reply->str, reply->len);
      boost::asio::post(self->strand_,
                        [s = self->shared_from_this(), gen = self->gen_,
                         reason = std::move(reason)] { s->attempt_failed(gen, reason); });
      return;
    }
    if (--self->handshake_pending_ == 0) {
      boost::asio::post(self->strand_, [s = self->shared_from_this(), gen = self->gen_] {
        s->handshake_done(gen);
      });
    }
  });
}

void Connection::handshake_done(std::uint64_t gen) {
  if (gen != gen_ || state_ != State::kHandshaking || ac_ == nullptr || handshake_failed_) return;
  attempt_timer_.cancel();
  state_ = State::kUp;
  up_.store(true, std::memory_order_release);
  up_gauge_.inc();
  if (ever_up_) reconnects_.inc();
  core::log::info("redis connected", {{"role", role_},
                                      {"target", target_},
                                      {"reconnect", ever_up_},
                                      {"failedAttempts", failures_}});
  ever_up_ = true;
  attempt_ = 0;
  failures_ = 0;
  if (hooks_.on_up) guarded("on_up", [&] { hooks_.on_up(); });
}

void Connection::on_disconnect(const redisAsyncContext* cac, int /*status*/) noexcept {
  auto* ac = const_cast<redisAsyncContext*>(cac);
  auto* self = static_cast<Connection*>(ac->data);
  // During our own redisAsyncFree the caller already knows; a foreign context is not ours.
  if (self == nullptr || self->closing_ || self->ac_ != ac) return;
  guarded("onDisconnect", [&] {
    // hiredis frees the context right after this returns. Reply callbacks already ran (NULL).
    self->ac_ = nullptr;
    self->up_.store(false, std::memory_order_release);
    boost::asio::post(self->strand_, [s = self->shared_from_this(), gen = self->gen_,
                                      reason = error_text(ac->c, "connection closed")] {
      s->context_lost(gen, reason);
    });
  });
}

void Connection::context_lost(std::uint64_t gen, const std::string& reason) {
  if (gen != gen_) return;
  if (state_ == State::kUp) {
    lost(reason);
  } else if (connecting()) {
    attempt_failed(gen, reason);
  }
}

void Connection::attempt_failed(std::uint64_t gen, const std::string& reason) {
  if (gen != gen_ || !connecting()) return;
  resolver_.cancel();
  close_context();
  ++failures_;
  // One warning per outage; the retries behind it would flood the log every few seconds.
  if (failures_ == 1) {
    core::log::warn("redis connect failed",
                    {{"role", role_}, {"target", target_}, {"error", reason}});
  } else {
    core::log::debug(
        "redis connect failed",
        {{"role", role_}, {"target", target_}, {"error", reason}, {"attempt", failures_}});
  }
  schedule_retry();
}

void Connection::reset(const std::string& reason) {
  if (state_ != State::kUp) return;
  close_context();
  lost(reason);
}

void Connection::lost(const std::string& reason) {
  up_.store(false, std::memory_order_release);
  up_gauge_.dec();
  state_ = State::kBackoff;
  core::log::warn("redis connection lost",
                  {{"role", role_}, {"target", target_}, {"error", reason}});
  if (hooks_.on_down) guarded("on_down", [&] { hooks_.on_down(reason); });
  schedule_retry();
}

void Connection::schedule_retry() {
  if (state_ == State::kStopped) return;
  state_ = State::kBackoff;
  attempt_timer_.cancel();
  std::uniform_real_distribution<double> jitter(0.0, 1.0);
  retry_timer_.expires_after(reconnect_delay(options_, attempt_++, jitter(rng_)));
  retry_timer_.async_wait([self = shared_from_this(), gen = gen_](boost::system::error_code ec) {
    if (ec || gen != self->gen_ || self->state_ != State::kBackoff) return;
    self->begin_attempt();
  });
}

void Connection::close_context() {
  if (ac_ == nullptr) return;
  // Synchronous: pending reply callbacks run with NULL, the adapter releases the descriptor,
  // onDisconnect (ignored: closing_) runs if it was connected, then hiredis closes the fd.
  closing_ = true;
  redisAsyncFree(std::exchange(ac_, nullptr));
  closing_ = false;
}

void Connection::do_stop() {
  const bool was_up = state_ == State::kUp;
  state_ = State::kStopped;
  ++gen_;
  resolver_.cancel();
  attempt_timer_.cancel();
  retry_timer_.cancel();
  close_context();
  if (was_up) {
    up_gauge_.dec();
    core::log::info("redis connection closed", {{"role", role_}, {"target", target_}});
  }
  // Releasing the hooks breaks the owner <-> connection cycle; the owner may die after this.
  auto hooks = std::move(hooks_);
  hooks_ = {};
  if (was_up && hooks.on_down) guarded("on_down", [&] { hooks.on_down("stopped"); });
}

}  // namespace ticketd::infra::redis
