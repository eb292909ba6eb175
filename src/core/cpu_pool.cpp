#include "core/cpu_pool.hpp"

namespace ticketd::core {

CpuPool::CpuPool(std::size_t threads, std::size_t max_pending, metrics::Registry& metrics,
                 const std::string& name)
    : pool_(threads),
      max_pending_(max_pending),
      rejected_(metrics
                    .counter("ticketd_cpu_pool_rejected_total",
                             "CPU-pool jobs refused because the queue was full", {"pool"})
                    .with({name})) {
  auto& pending =
      metrics.gauge("ticketd_cpu_pool_pending", "CPU-pool jobs queued or running", {"pool"});
  metrics.add_collector(
      [this, &pending, name] { pending.with({name}).set(static_cast<double>(pending_.load())); });
}

boost::asio::awaitable<void> CpuPool::run(std::function<void()> job) {
  if (pending_.fetch_add(1) >= max_pending_) {
    pending_.fetch_sub(1);
    rejected_.inc();
    throw ApiError(ErrorKind::kUnavailable, "CPU_POOL_BUSY", "Server is busy, retry shortly")
        .with_retry_after(1);
  }
  auto home = co_await boost::asio::this_coro::executor;
  co_await boost::asio::post(pool_.get_executor(), boost::asio::use_awaitable);
  std::exception_ptr failure;
  try {
    job();
  } catch (...) {
    failure = std::current_exception();
  }
  pending_.fetch_sub(1);
  co_await boost::asio::post(home, boost::asio::use_awaitable);
  if (failure) std::rethrow_exception(failure);
}

CpuPool::~CpuPool() {
  pool_.stop();
  pool_.join();
}

}  // namespace ticketd::core
