#include "modules/reservations/batcher.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <optional>
#include <string_view>
#include <unordered_set>
#include <utility>

#include "core/log.hpp"
#include "infra/pg/errors.hpp"

namespace ticketd::reservations {

namespace asio = boost::asio;

// One gathered request. The batch that takes it sends exactly one message on its channel: a
// failure to rethrow, or the answer (null: run it alone; a pointer, because GCC 12 misjudges an
// optional inside the channel's tuple as maybe-uninitialized). The channel is thread-safe, so the
// batch may finish on any thread.
struct Batcher::Entry {
  Entry(const asio::any_io_executor& ex, ReserveInput in) : input(std::move(in)), channel(ex, 1) {}
  ReserveInput input;
  asio::experimental::concurrent_channel<void(boost::system::error_code, std::exception_ptr,
                                              std::unique_ptr<ReserveResult>)>
      channel;
};

Batcher::Batcher(const asio::any_io_executor& ex, Repository& repo, BatchOptions options,
                 core::metrics::Registry& metrics)
    : ex_(ex),
      repo_(repo),
      options_(options),
      window_(ex),
      batch_size_(metrics
                      .histogram("ticketd_reservation_batch_size",
                                 "Reservation requests decided per database call", {},
                                 {1, 2, 4, 8, 16, 32, 64, 128, 256})
                      .get()),
      deferred_(metrics
                    .counter("ticketd_reservation_batch_deferred_total",
                             "Requests a batch left to the per-request path (rows another "
                             "transaction held)")
                    .get()),
      rolled_back_(metrics
                       .counter("ticketd_reservation_batch_rollbacks_total",
                                "Batches that failed as a whole; each of their requests was "
                                "then decided alone")
                       .get()) {}

asio::awaitable<ReserveResult> Batcher::reserve(ReserveInput in) {
  if (options_.max_size <= 1) {
    auto alone = co_await repo_.reserve(std::move(in));
    co_return alone;
  }
  auto entry = std::make_shared<Entry>(co_await asio::this_coro::executor, std::move(in));
  {
    std::lock_guard lock(mutex_);
    gathered_.push_back(entry);
    schedule_locked();
  }
  constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
  auto [ec, failure, answer] = co_await entry->channel.async_receive(kTuple);
  if (ec) throw boost::system::system_error(ec);
  if (failure) std::rethrow_exception(failure);
  if (answer) co_return std::move(*answer);
  deferred_.inc();
  auto alone = co_await repo_.reserve(std::move(entry->input));
  co_return alone;
}

void Batcher::schedule_locked() {
  while (!gathered_.empty() && in_flight_ < options_.max_in_flight &&
         (in_flight_ == 0 || gathered_.size() >= options_.max_size)) {
    start_batch_locked();
  }
  if (gathered_.empty() || in_flight_ >= options_.max_in_flight || window_armed_) return;
  // A slot is free but a batch is in flight: wait a little for company rather than pay a whole
  // transaction for one request.
  window_armed_ = true;
  window_.expires_after(options_.window);
  window_.async_wait([this](boost::system::error_code) {
    std::lock_guard lock(mutex_);
    window_armed_ = false;
    if (!gathered_.empty() && in_flight_ < options_.max_in_flight) start_batch_locked();
    schedule_locked();
  });
}

void Batcher::start_batch_locked() {
  std::vector<std::shared_ptr<Entry>> batch;
  std::unordered_set<std::string_view> users;
  for (auto it = gathered_.begin(); it != gathered_.end() && batch.size() < options_.max_size;) {
    // A user's second request waits for the next batch: it must see what the first did.
    if (!users.insert((*it)->input.user_id).second) {
      ++it;
      continue;
    }
    batch.push_back(std::move(*it));
    it = gathered_.erase(it);
  }
  ++in_flight_;
  batch_size_.observe(static_cast<double>(batch.size()));
  asio::co_spawn(ex_, run(std::move(batch)), asio::detached);
}

asio::awaitable<void> Batcher::run(std::vector<std::shared_ptr<Entry>> batch) {
  std::vector<std::optional<ReserveResult>> answers;
  std::exception_ptr failure;
  if (batch.size() == 1) {
    try {
      ReserveInput in = batch.front()->input;
      answers.emplace_back(co_await repo_.reserve(std::move(in)));
    } catch (...) {
      failure = std::current_exception();
    }
  } else {
    std::vector<ReserveInput> inputs;
    inputs.reserve(batch.size());
    for (const auto& e : batch) inputs.push_back(e->input);
    try {
      answers = co_await repo_.reserve_batch(inputs);
    } catch (const infra::pg::DbError& e) {
      if (e.kind() == core::ErrorKind::kUnavailable) {
        failure = std::current_exception();  // the database is unreachable for anyone
      } else {
        // Rolled back as a whole (a lock wait past the limit, a key raced in from another
        // event, a safety net): each request is decided alone, as without batching.
        rolled_back_.inc();
        core::log::warn("reservation batch rolled back; deciding its requests one by one",
                        {{"requests", std::to_string(batch.size())}, {"error", e.what()}});
        answers.assign(batch.size(), std::nullopt);
      }
    } catch (...) {
      failure = std::current_exception();
    }
  }
  for (std::size_t i = 0; i < batch.size(); ++i) {
    std::unique_ptr<ReserveResult> answer;
    if (!failure && answers[i]) answer = std::make_unique<ReserveResult>(std::move(*answers[i]));
    batch[i]->channel.try_send(boost::system::error_code{}, failure, std::move(answer));
  }
  std::lock_guard lock(mutex_);
  --in_flight_;
  // Whatever gathered while this batch was in the database goes now.
  if (!gathered_.empty()) start_batch_locked();
  schedule_locked();
}

}  // namespace ticketd::reservations
