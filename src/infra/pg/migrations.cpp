#include "infra/pg/migrations.hpp"

#include <functional>
#include <map>

#include "core/crypto.hpp"
#include "core/log.hpp"

namespace ticketd::infra::pg {
namespace {

// Arbitrary but fixed: every ticketd instance agrees on it.
constexpr long long kAdvisoryLockKey = 7'263'540'001;

std::string checksum(std::string_view sql) {
  return core::blake2b_hex(sql, 32);
}

// Runs `body` as one transaction; on failure rolls back, logs `what` and rethrows.
boost::asio::awaitable<void> in_transaction(
    Connection& conn, std::string_view what,
    const std::function<boost::asio::awaitable<void>()>& body) {
  std::exception_ptr failure;
  try {
    co_await conn.exec("BEGIN");
    co_await body();
    co_await conn.exec("COMMIT");
  } catch (...) {
    failure = std::current_exception();
  }
  if (failure) {
    if (conn.healthy() && conn.in_transaction()) co_await conn.exec("ROLLBACK");
    core::log::error("migration failed", {{"migration", what}});
    std::rethrow_exception(failure);
  }
}

boost::asio::awaitable<void> apply_functions(Connection& conn,
                                             const std::vector<SqlFile>& functions,
                                             MigrationReport& report) {
  if (functions.empty()) co_return;
  co_await conn.exec(
      "CREATE TABLE IF NOT EXISTS schema_functions ("
      " name text PRIMARY KEY,"
      " checksum text NOT NULL,"
      " applied_at timestamptz NOT NULL DEFAULT now())");
  std::map<std::string, std::string, std::less<>> applied;
  const Result rows = co_await conn.exec("SELECT name, checksum FROM schema_functions");
  for (int i = 0; i < rows.rows(); ++i) applied.emplace(rows.string(i, 0), rows.string(i, 1));
  std::vector<const SqlFile*> changed;
  for (const auto& f : functions) {
    auto it = applied.find(f.name);
    if (it == applied.end() || it->second != checksum(f.sql)) changed.push_back(&f);
  }
  if (changed.empty()) co_return;
  // Named, not a temporary inside co_await: GCC 12 mishandles those (README).
  const std::function<boost::asio::awaitable<void>()> apply =
      [&]() -> boost::asio::awaitable<void> {
    for (const SqlFile* f : changed) {
      co_await conn.exec(f->sql);
      const Params row(f->name, checksum(f->sql));
      co_await conn.query_text(
          "INSERT INTO schema_functions (name, checksum) VALUES ($1, $2) "
          "ON CONFLICT (name) DO UPDATE SET checksum = EXCLUDED.checksum, applied_at = now()",
          row);
    }
  };
  co_await in_transaction(conn, "sql/functions", apply);
  for (const SqlFile* f : changed) {
    core::log::info("function applied", {{"file", f->name}});
    report.functions_applied.emplace_back(f->name);
  }
}

boost::asio::awaitable<MigrationReport> apply_locked(Connection& conn,
                                                     const std::vector<Migration>& migrations,
                                                     const std::vector<SqlFile>& functions) {
  co_await conn.exec(
      "CREATE TABLE IF NOT EXISTS schema_migrations ("
      " version integer PRIMARY KEY,"
      " name text NOT NULL,"
      " checksum text NOT NULL,"
      " applied_at timestamptz NOT NULL DEFAULT now())");
  std::map<int, std::string> applied;
  const Result rows = co_await conn.exec("SELECT version, checksum FROM schema_migrations");
  for (int i = 0; i < rows.rows(); ++i) {
    applied.emplace(static_cast<int>(rows.int64(i, 0)), rows.string(i, 1));
  }
  MigrationReport report;
  for (const auto& m : migrations) {
    const std::string sum = checksum(m.sql);
    if (auto it = applied.find(m.version); it != applied.end()) {
      if (it->second != sum) {
        throw core::InfraError(core::ErrorKind::kInternal, "MIGRATION_CHANGED",
                               "migration " + std::string(m.name) +
                                   " was edited after it was applied; add a new migration instead");
      }
      ++report.already_applied;
      continue;
    }
    const std::function<boost::asio::awaitable<void>()> apply =
        [&]() -> boost::asio::awaitable<void> {
      co_await conn.exec(m.sql);
      const Params row(m.version, m.name, sum);
      co_await conn.query_text(
          "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)", row);
    };
    co_await in_transaction(conn, m.name, apply);
    core::log::info("migration applied", {{"migration", m.name}});
    report.applied.emplace_back(m.name);
  }
  co_await apply_functions(conn, functions, report);
  co_return report;
}

}  // namespace

boost::asio::awaitable<MigrationReport> migrate(Pool& pool, std::vector<Migration> migrations,
                                                std::vector<SqlFile> functions) {
  Lease lease = co_await pool.acquire();
  // Migrations may run longer than the request statement timeout.
  co_await lease->exec("SET statement_timeout = 0");
  const Params lock_key(kAdvisoryLockKey);
  co_await lease->query_text("SELECT pg_advisory_lock($1)", lock_key);
  std::exception_ptr failure;
  MigrationReport report;
  try {
    report = co_await apply_locked(*lease, migrations, functions);
  } catch (...) {
    failure = std::current_exception();
  }
  if (lease->healthy()) {
    co_await lease->query_text("SELECT pg_advisory_unlock($1)", lock_key);
    co_await lease->exec("RESET statement_timeout");
  }
  if (failure) std::rethrow_exception(failure);
  co_return report;
}

}  // namespace ticketd::infra::pg
