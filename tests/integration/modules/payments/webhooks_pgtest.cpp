// What payments keep of rejected webhooks, against the real PostgreSQL: the purge job's statement
// deletes rejected rows past their retention and nothing else.
#include <gtest/gtest.h>

#include <boost/asio/use_awaitable.hpp>

#include "core/ids.hpp"
#include "infra/pg/pool.hpp"
#include "modules/payments/repository.hpp"
#include "support/async.hpp"

namespace ticketd::payments {
namespace {

namespace asio = boost::asio;
using ticketd::testing::AsyncRunner;

TEST(RejectedWebhooks, PurgeDeletesOnlyRejectedRowsPastTheRetention) {
  AsyncRunner rt;
  core::metrics::Registry metrics;
  infra::pg::PoolOptions o;
  o.connect.url = ticketd::testing::test_database_url();
  o.max_size = 2;
  infra::pg::Pool pool(rt.ioc().get_executor(), o, metrics);
  Repository repo(pool, std::chrono::seconds(2));
  // Tagged rows of this test only: other suites share the table.
  const std::string tag = "purge-test-" + core::new_uuid();
  auto count = [&](std::string where) {
    return rt.run([&]() -> asio::awaitable<std::int64_t> {
      auto lease = co_await pool.acquire();
      auto r = co_await lease->exec("SELECT count(*) FROM payment_webhook_events WHERE error = '" +
                                    tag + "' AND " + where);
      co_return r.int64(0, 0);
    });
  };
  rt.run([&]() -> asio::awaitable<void> {
    for (int i = 0; i < 3; ++i) {
      RejectedWebhook w;
      w.raw_body = std::string(2048, 'x');
      w.raw_body_bytes = 1 << 20;
      w.headers_json = "{}";
      w.error = tag;
      co_await repo.record_rejected(std::move(w));
    }
    auto lease = co_await pool.acquire();
    // Two of them are old; a signed (IGNORED) row just as old must stay.
    co_await lease->exec(
        "UPDATE payment_webhook_events SET received_at = now() - interval '100 hours' "
        "WHERE id IN (SELECT id FROM payment_webhook_events WHERE error = '" +
        tag + "' LIMIT 2)");
    co_await lease->exec(
        "INSERT INTO payment_webhook_events (provider, provider_event_id, signature_valid, status, "
        "raw_body, error, received_at, processed_at) VALUES ('simulated', '" +
        tag + "', true, 'IGNORED', '{}', '" + tag + "', now() - interval '100 hours', now())");
  });
  EXPECT_EQ(count("raw_body_bytes = 1048576 AND length(raw_body) = 2048"), 3);
  // In batches of one: the job's loop, bounded per statement.
  const auto first = rt.run(
      [&]() -> asio::awaitable<std::int64_t> { co_return co_await repo.purge_rejected(72, 1); });
  EXPECT_EQ(first, 1);
  const auto rest = rt.run([&]() -> asio::awaitable<std::int64_t> {
    co_return co_await repo.purge_rejected(72, 1'000);
  });
  EXPECT_GE(rest, 1);  // other suites' old rejected rows may go too; ours are what we count
  EXPECT_EQ(count("status = 'REJECTED'"), 1) << "the recent rejected row stays";
  EXPECT_EQ(count("status = 'IGNORED'"), 1) << "signed rows are not the purge's business";
  pool.close();
}

}  // namespace
}  // namespace ticketd::payments
