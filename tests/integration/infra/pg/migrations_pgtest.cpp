#include <gtest/gtest.h>

#include <array>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
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
    pool_ = std::make_unique<Pool>(rt_.ioc().get_executor(), opts(url_of(db_)), metrics_);
  }
  static std::string url_of(const std::string& db) {
    boost::urls::url u = boost::urls::parse_uri(ticketd::testing::test_database_url()).value();
    u.set_path("/" + db);
    return std::string(u.buffer());
  }
  // Another empty database for this test, dropped afterwards.
  Pool& another(const std::string& suffix) {
    const std::string name = db_ + suffix;
    rt_.run([&]() -> asio::awaitable<void> {
      Lease l = co_await admin_->acquire();
      co_await l->exec("CREATE DATABASE " + name);
    });
    extra_.emplace_back(
        name, std::make_unique<Pool>(rt_.ioc().get_executor(), opts(url_of(name)), metrics_));
    return *extra_.back().second;
  }
  std::string function_definitions(Pool& pool) {
    return rt_.run([&]() -> asio::awaitable<std::string> {
      auto r = co_await pool.query(
          {"test_functiondefs",
           "SELECT coalesce(string_agg(pg_get_functiondef(p.oid), E'\\n' ORDER BY p.proname), '') "
           "FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace AND NOT EXISTS ("
           "SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')"});
      co_return r.string(0, 0);
    });
  }
  void TearDown() override {
    pool_.reset();
    for (auto& [name, pool] : extra_) {
      pool.reset();
      drop(name);
    }
    drop(db_);
  }
  void drop(const std::string& db) {
    // FORCE may not terminate an autovacuum worker that just started on the new database (it
    // runs as the bootstrap superuser; seen in CI as 42501): it ends soon, so try again.
    for (int attempt = 1;; ++attempt) {
      try {
        rt_.run([&]() -> asio::awaitable<void> {
          Lease l = co_await admin_->acquire();
          co_await l->exec("DROP DATABASE IF EXISTS " + db + " WITH (FORCE)");
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
  std::vector<std::pair<std::string, std::unique_ptr<Pool>>> extra_;
};

// pg_dump --schema-only of a database (the client of the server's major version).
std::string schema_dump(const std::string& url) {
  std::string bin = "pg_dump";
  for (const char* candidate : {"/usr/lib/postgresql/15/bin/pg_dump", "/usr/bin/pg_dump"}) {
    if (std::filesystem::exists(candidate)) {
      bin = candidate;
      break;
    }
  }
  const std::string cmd = bin + " --schema-only --no-owner --no-privileges '" + url + "'";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(cmd.c_str(), "r"), pclose);
  if (!pipe) throw std::runtime_error("cannot run pg_dump");
  std::string raw;
  std::array<char, 65536> buf{};
  while (const std::size_t n = fread(buf.data(), 1, buf.size(), pipe.get())) {
    raw.append(buf.data(), n);
  }
  // pg_dump 15.14+ brackets its output with \restrict / \unrestrict and a random key per run.
  std::string out;
  std::size_t pos = 0;
  while (pos < raw.size()) {
    auto end = raw.find('\n', pos);
    if (end == std::string::npos) end = raw.size();
    const std::string_view line(raw.data() + pos, end - pos);
    if (!line.starts_with("\\restrict ") && !line.starts_with("\\unrestrict ")) {
      out.append(line);
      out.push_back('\n');
    }
    pos = end + 1;
  }
  return out;
}

// The first line where two texts differ, for a readable failure.
std::string first_difference(const std::string& a, const std::string& b) {
  std::size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  const auto nl = a.rfind('\n', i);
  const auto start = nl == std::string::npos ? 0 : nl + 1;
  return "at byte " + std::to_string(i) + ":\n  fresh:    " + a.substr(start, 200) +
         "\n  upgraded: " + b.substr(start, 200);
}

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

TEST_F(Migrations, AFreshAndAnUpgradedDatabaseEndIdentical) {
  const auto& all = embedded_migrations();
  const auto& functions = embedded_functions();
  ASSERT_FALSE(functions.empty());
  // Fresh: every migration, then the function files.
  auto fresh = rt_.run([&] { return migrate(*pool_, all, functions); });
  EXPECT_EQ(fresh.functions_applied.size(), functions.size());
  // Upgraded: the migrations as a binary without function files applied them, then this one.
  Pool& upgraded = another("_up");
  rt_.run([&] { return migrate(upgraded, all); });
  rt_.run([&] { return migrate(upgraded, all, functions); });
  const auto defs = function_definitions(*pool_);
  EXPECT_NE(defs.find("FUNCTION public.reserve("), std::string::npos);
  const auto upgraded_defs = function_definitions(upgraded);
  EXPECT_TRUE(defs == upgraded_defs) << first_difference(defs, upgraded_defs);
  const auto dump = schema_dump(url_of(db_));
  ASSERT_NE(dump.find("CREATE TABLE public.reservations"), std::string::npos)
      << dump.substr(0, 500);
  const auto upgraded_dump = schema_dump(url_of(db_ + "_up"));
  EXPECT_TRUE(dump == upgraded_dump) << first_difference(dump, upgraded_dump);
  // Nothing changed since: a second run applies nothing.
  auto again = rt_.run([&] { return migrate(*pool_, all, functions); });
  EXPECT_TRUE(again.functions_applied.empty());
}

TEST_F(Migrations, AFunctionFileIsAppliedAgainOnlyWhenItChanges) {
  std::vector<SqlFile> v{
      {"mig_f.sql", "CREATE OR REPLACE FUNCTION mig_f() RETURNS int LANGUAGE sql AS 'SELECT 1'"},
      {"mig_g.sql", "CREATE OR REPLACE FUNCTION mig_g() RETURNS int LANGUAGE sql AS 'SELECT 7'"}};
  auto value = [&](const char* fn) {
    return rt_.run([&]() -> asio::awaitable<std::int64_t> {
      Lease l = co_await pool_->acquire();
      auto r = co_await l->exec(std::string("SELECT ") + fn + "()");
      co_return r.int64(0, 0);
    });
  };
  EXPECT_EQ(rt_.run([&] { return migrate(*pool_, {}, v); }).functions_applied.size(), 2u);
  EXPECT_TRUE(rt_.run([&] { return migrate(*pool_, {}, v); }).functions_applied.empty());
  v[0].sql = "CREATE OR REPLACE FUNCTION mig_f() RETURNS int LANGUAGE sql AS 'SELECT 2'";
  const auto changed = rt_.run([&] { return migrate(*pool_, {}, v); }).functions_applied;
  EXPECT_EQ(changed, std::vector<std::string>{"mig_f.sql"});
  EXPECT_EQ(value("mig_f"), 2);
  // A failing file applies nothing of its run: the other changed file stays as it was.
  v[0].sql = "CREATE OR REPLACE FUNCTION mig_f() RETURNS int LANGUAGE sql AS 'SELECT 3'";
  v[1].sql = "CREATE OR REPLACE FUNCTION mig_g() RETURNS int LANGUAGE sql AS 'SELECT nope'";
  EXPECT_THROW(rt_.run([&] { return migrate(*pool_, {}, v); }), DbError);
  EXPECT_EQ(value("mig_f"), 2);
  EXPECT_EQ(value("mig_g"), 7);
}

}  // namespace
}  // namespace ticketd::infra::pg
