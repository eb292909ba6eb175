#include <gtest/gtest.h>

#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>
#include <chrono>
#include <thread>

#include "core/ids.hpp"
#include "infra/pg/migrations.hpp"
#include "support/async.hpp"

namespace ticketd::infra::pg {
namespace {

namespace asio = boost::asio;
using ticketd::testing::AsyncRunner;

// Each test gets a fresh, empty database (dropped afterwards) so the whole history applies.
class Migrations : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = "ticketd_mig_" + core::random_hex(6);
    admin_ = std::make_unique<Pool>(rt_.ioc().get_executor(),
                                    opts(ticketd::testing::test_database_url()), metrics_);
    rt_.run([&]() -> asio::awaitable<void> {
      Lease l = co_await admin_->acquire();
      co_await l->exec("CREATE DATABASE " + db_);
    });
    boost::urls::url u = boost::urls::parse_uri(ticketd::testing::test_database_url()).value();
    u.set_path("/" + db_);
    pool_ =
        std::make_unique<Pool>(rt_.ioc().get_executor(), opts(std::string(u.buffer())), metrics_);
  }
  void TearDown() override {
    pool_.reset();
    // FORCE may not terminate an autovacuum worker that just started on the new database (it
    // runs as the bootstrap superuser; seen in CI as 42501): it ends soon, so try again.
    for (int attempt = 1;; ++attempt) {
      try {
        rt_.run([&]() -> asio::awaitable<void> {
          Lease l = co_await admin_->acquire();
          co_await l->exec("DROP DATABASE IF EXISTS " + db_ + " WITH (FORCE)");
        });
        return;
      } catch (const DbError&) {
        if (attempt == 50) throw;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
  }
  static PoolOptions opts(std::string url) {
    PoolOptions o;
    o.connect.url = std::move(url);
    o.max_size = 2;
    return o;
  }

  AsyncRunner rt_{2};
  core::metrics::Registry metrics_;
  std::string db_;
  std::unique_ptr<Pool> admin_;
  std::unique_ptr<Pool> pool_;
};

TEST_F(Migrations, ApplyOnceThenNothingTheSecondTime) {
  const auto& all = embedded_migrations();
  ASSERT_FALSE(all.empty());
  auto first = rt_.run([&] { return migrate(*pool_, all); });
  EXPECT_EQ(first.applied.size(), all.size());
  auto second = rt_.run([&] { return migrate(*pool_, all); });
  EXPECT_TRUE(second.applied.empty());
  EXPECT_EQ(second.already_applied, all.size());
  // Roles are seeded by migrations: a fresh database is usable at once.
  auto roles = rt_.run([&]() -> asio::awaitable<std::int64_t> {
    auto r = co_await pool_->query({"test_roles",
                                    "SELECT count(*) FROM roles WHERE name IN "
                                    "('USER','SUPER_ADMIN','ORG_ADMIN','ORG_STAFF','SUPPORT')"});
    co_return r.int64(0, 0);
  });
  EXPECT_EQ(roles, 5);
}

TEST_F(Migrations, AnEditedMigrationIsRefused) {
  std::vector<Migration> v{{1, "0001_a.sql", "CREATE TABLE mig_a (id int)"}};
  rt_.run([&] { return migrate(*pool_, v); });
  v[0].sql = "CREATE TABLE mig_a (id bigint)";
  try {
    rt_.run([&] { return migrate(*pool_, v); });
    ADD_FAILURE() << "an edited migration must be refused";
  } catch (const core::InfraError& e) {
    EXPECT_EQ(e.code(), "MIGRATION_CHANGED");
  }
}

TEST_F(Migrations, AFailingMigrationRollsBackAndKeepsEarlierOnes) {
  std::vector<Migration> v{
      {1, "0001_ok.sql", "CREATE TABLE mig_ok (id int)"},
      {2, "0002_bad.sql", "CREATE TABLE mig_half (id int); SELECT nope_fn();"}};
  EXPECT_THROW(rt_.run([&] { return migrate(*pool_, v); }), DbError);
  auto tables = rt_.run([&]() -> asio::awaitable<std::int64_t> {
    auto r = co_await pool_->query(
        {"test_tables", "SELECT count(*) FROM pg_tables WHERE tablename IN ('mig_ok','mig_half')"});
    co_return r.int64(0, 0);
  });
  EXPECT_EQ(tables, 1) << "0001 stays, 0002 is rolled back whole";
}

}  // namespace
}  // namespace ticketd::infra::pg
