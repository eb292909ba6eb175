#include "infra/pg/migrations.hpp"

#include <map>

#include "core/ids.hpp"
#include "core/log.hpp"

namespace ticketd::infra::pg {
namespace {

// Arbitrary but fixed: every ticketd instance agrees on it.
constexpr long long kAdvisoryLockKey = 7'263'540'001;

std::string checksum(std::string_view sql) {
  return core::blake2b_hex(sql, 32);
}

boost::asio::awaitable<MigrationReport> apply_locked(Connection& conn,
                                                     const std::vector<Migration>& migrations) {
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
    std::exception_ptr failure;
    try {
      co_await conn.exec("BEGIN");
      co_await conn.exec(m.sql);
      co_await conn.query_text(
          "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
          Params(m.version, m.name, sum));
      co_await conn.exec("COMMIT");
    } catch (...) {
      failure = std::current_exception();
    }
    if (failure) {
      if (conn.healthy() && conn.in_transaction()) co_await conn.exec("ROLLBACK");
      core::log::error("migration failed", {{"migration", m.name}});
      std::rethrow_exception(failure);
    }
    core::log::info("migration applied", {{"migration", m.name}});
    report.applied.emplace_back(m.name);
  }
  co_return report;
}

}  // namespace

boost::asio::awaitable<MigrationReport> migrate(Pool& pool,
                                                const std::vector<Migration>& migrations) {
  Lease lease = co_await pool.acquire();
  // Migrations may run longer than the request statement timeout.
  co_await lease->exec("SET statement_timeout = 0");
  co_await lease->query_text("SELECT pg_advisory_lock($1)", Params(kAdvisoryLockKey));
  std::exception_ptr failure;
  MigrationReport report;
  try {
    report = co_await apply_locked(*lease, migrations);
  } catch (...) {
    failure = std::current_exception();
  }
  if (lease->healthy()) {
    co_await lease->query_text("SELECT pg_advisory_unlock($1)", Params(kAdvisoryLockKey));
    co_await lease->exec("RESET statement_timeout");
  }
  if (failure) std::rethrow_exception(failure);
  co_return report;
}

}  // namespace ticketd::infra::pg
