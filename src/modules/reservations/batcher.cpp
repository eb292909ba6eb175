#include "modules/reservations/batcher.hpp"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "core/log.hpp"
#include "infra/pg/errors.hpp"

namespace ticketd::reservations {

namespace asio = boost::asio;

// Everything a batch in flight or an armed window touches, shared with them so that they may
// finish after the Batcher is gone.
struct Batcher::State : std::enable_shared_from_this<State> {
  // One gathered request. The batch that takes it sends exactly one message on its channel: a
  // failure to rethrow, or the answer (null: run it alone; a pointer, because GCC 12 misjudges an
  // optional inside the channel's tuple as maybe-uninitialized). The channel is thread-safe, so the
  // batch may finish on any thread.
  struct Entry {
    Entry(const asio::any_io_executor& ex, ReserveInput in)
        : input(std::move(in)), channel(ex, 1) {}
    ReserveInput input;
    asio::experimental::concurrent_channel<void(boost::system::error_code, std::exception_ptr,
                                                std::unique_ptr<ReserveResult>)>
        channel;
  };

  State(const asio::any_io_executor& ex, Repository& repo, BatchOptions options,
        core::metrics::Registry& metrics);

  // Under mutex: starts a batch of the oldest gathered requests (one per user, none of a busy
  // user); false when every gathered request belongs to a busy user.
  bool start_batch_locked();
  // Under mutex: starts a batch now, arms the window, or leaves the gathered requests for the
  // next batch slot that frees up.
  void schedule_locked();
  // `self` keeps the state alive until the batch is done.
  static asio::awaitable<void> run(std::shared_ptr<State> self,
                                   std::vector<std::shared_ptr<Entry>> batch);

  asio::any_io_executor ex;
  Repository& repo;
  BatchOptions options;
  mutable std::mutex mutex;
  std::deque<std::shared_ptr<Entry>> gathered;
  // The users of the batches in flight (a batch holds one request per user).
  std::unordered_set<std::string> busy_users;
  std::size_t in_flight = 0;
  double batch_us = 0;  // moving average of a batch's time in the database
  asio::steady_timer window;
  bool window_armed = false;

  core::metrics::Histogram& batch_size;
  core::metrics::Counter& deferred;
  core::metrics::Counter& rolled_back;
};

Batcher::State::State(const asio::any_io_executor& ex, Repository& repo, BatchOptions options,
                      core::metrics::Registry& metrics)
    : ex(ex),
      repo(repo),
      options(options),
      window(ex),
      batch_size(metrics
                     .histogram("ticketd_reservation_batch_size",
                                "Reservation requests decided per database call", {},
                                {1, 2, 4, 8, 16, 32, 64, 128, 256})
                     .get()),
      deferred(metrics
                   .counter("ticketd_reservation_batch_deferred_total",
                            "Requests a batch left to the per-request path (rows another "
                            "transaction held)")
                   .get()),
      rolled_back(metrics
                      .counter("ticketd_reservation_batch_rollbacks_total",
                               "Batches that failed as a whole; each of their requests was "
                               "then decided alone")
                      .get()) {}

Batcher::Batcher(const asio::any_io_executor& ex, Repository& repo, BatchOptions options,
                 core::metrics::Registry& metrics)
    : state_(std::make_shared<State>(ex, repo, options, metrics)) {}

Batcher::~Batcher() {
  std::lock_guard lock(state_->mutex);
  state_->window.cancel();
}

asio::awaitable<ReserveResult> Batcher::reserve(ReserveInput in) {
  const std::shared_ptr<State> s = state_;
  if (s->options.max_size <= 1) {
    auto alone = co_await s->repo.reserve(std::move(in));
    co_return alone;
  }
  auto executor = co_await asio::this_coro::executor;
  auto entry = std::make_shared<State::Entry>(executor, std::move(in));
  {
    std::lock_guard lock(s->mutex);
    s->gathered.push_back(entry);
    s->schedule_locked();
  }
  constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
  auto [ec, failure, answer] = co_await entry->channel.async_receive(kTuple);
  if (ec) throw boost::system::system_error(ec);
  if (failure) std::rethrow_exception(failure);
  if (answer) co_return std::move(*answer);
  s->deferred.inc();
  auto alone = co_await s->repo.reserve(std::move(entry->input));
  co_return alone;
}

bool Batcher::batching() const noexcept {
  return state_->options.max_size > 1;
}

std::size_t Batcher::connections_wanted() const {
  std::lock_guard lock(state_->mutex);
  const std::size_t max = state_->options.max_size;
  return state_->in_flight + (state_->gathered.size() + max - 1) / max;
}

std::chrono::microseconds Batcher::expected_wait() const {
  std::lock_guard lock(state_->mutex);
  const State& s = *state_;
  const std::size_t batches = (s.gathered.size() + s.options.max_size - 1) / s.options.max_size;
  const double us = static_cast<double>(batches) * s.batch_us /
                    static_cast<double>(std::max<std::size_t>(1, s.options.max_in_flight));
  return std::chrono::microseconds(static_cast<std::int64_t>(us));
}

void Batcher::State::schedule_locked() {
  while (!gathered.empty() && in_flight < options.max_in_flight &&
         (in_flight == 0 || gathered.size() >= options.max_size)) {
    if (!start_batch_locked()) break;
  }
  if (gathered.empty() || in_flight >= options.max_in_flight || window_armed) return;
  // A slot is free but a batch is in flight: wait a little for company rather than pay a whole
  // transaction for one request.
  window_armed = true;
  window.expires_after(options.window);
  window.async_wait([self = shared_from_this()](boost::system::error_code) {
    std::lock_guard lock(self->mutex);
    self->window_armed = false;
    if (!self->gathered.empty() && self->in_flight < self->options.max_in_flight) {
      self->start_batch_locked();
    }
    self->schedule_locked();
  });
}

bool Batcher::State::start_batch_locked() {
  std::vector<std::shared_ptr<Entry>> batch;
  std::unordered_set<std::string_view> users;
  for (auto it = gathered.begin(); it != gathered.end() && batch.size() < options.max_size;) {
    // A user's next request waits until no batch holds one of theirs: it must see what the
    // earlier one did, and a batch would otherwise defer it (reserve()'s per-user lock is busy).
    const auto& user = (*it)->input.user_id;
    if (busy_users.contains(user) || !users.insert(user).second) {
      ++it;
      continue;
    }
    batch.push_back(std::move(*it));
    it = gathered.erase(it);
  }
  if (batch.empty()) return false;  // everyone gathered waits for a user of a batch in flight
  for (const auto& e : batch) busy_users.insert(e->input.user_id);
  ++in_flight;
  batch_size.observe(static_cast<double>(batch.size()));
  auto self = shared_from_this();
  asio::co_spawn(ex, run(self, std::move(batch)), asio::detached);
  return true;
}

asio::awaitable<void> Batcher::State::run(std::shared_ptr<State> self,
                                          std::vector<std::shared_ptr<Entry>> batch) {
  std::vector<std::optional<ReserveResult>> answers;
  std::exception_ptr failure;
  const auto started = std::chrono::steady_clock::now();
  if (batch.size() == 1) {
    try {
      ReserveInput in = batch.front()->input;
      auto one = co_await self->repo.reserve(std::move(in));  // GCC 12: never a call's argument
      answers.emplace_back(std::move(one));
    } catch (...) {
      failure = std::current_exception();
    }
  } else {
    std::vector<ReserveInput> inputs;
    inputs.reserve(batch.size());
    for (const auto& e : batch) inputs.push_back(e->input);
    try {
      answers = co_await self->repo.reserve_batch(inputs);
    } catch (const infra::pg::DbError& e) {
      if (e.kind() == core::ErrorKind::kUnavailable) {
        failure = std::current_exception();  // the database is unreachable for anyone
      } else {
        // Rolled back as a whole (a lock wait past the limit, a key raced in from another
        // event, a safety net): each request is decided alone, as without batching.
        self->rolled_back.inc();
        core::log::warn("reservation batch rolled back; deciding its requests one by one",
                        {{"requests", std::to_string(batch.size())}, {"error", e.what()}});
        answers.assign(batch.size(), std::nullopt);
      }
    } catch (...) {
      failure = std::current_exception();
    }
  }
  // Read before the answers go out: a request told to run alone moves its input away.
  std::vector<std::string> users;
  users.reserve(batch.size());
  for (const auto& e : batch) users.push_back(e->input.user_id);
  for (std::size_t i = 0; i < batch.size(); ++i) {
    std::unique_ptr<ReserveResult> answer;
    if (!failure && answers[i]) answer = std::make_unique<ReserveResult>(std::move(*answers[i]));
    batch[i]->channel.try_send(boost::system::error_code{}, failure, std::move(answer));
  }
  const double took_us =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - started).count();
  std::lock_guard lock(self->mutex);
  self->batch_us = self->batch_us == 0 ? took_us : 0.8 * self->batch_us + 0.2 * took_us;
  --self->in_flight;
  for (const auto& user : users) self->busy_users.erase(user);
  // Whatever gathered while this batch was in the database goes now.
  if (!self->gathered.empty()) self->start_batch_locked();
  self->schedule_locked();
}

}  // namespace ticketd::reservations
