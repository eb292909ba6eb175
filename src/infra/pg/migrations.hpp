#pragma once
// Forward-only schema migrations (migrations/NNNN_name.sql, embedded at build time). Applied in
// version order, each in its own transaction, under a PostgreSQL advisory lock so several
// instances starting together apply each file once. A file changed after it was applied is
// refused (its checksum no longer matches).
#include <boost/asio/awaitable.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "infra/pg/pool.hpp"

namespace ticketd::infra::pg {

struct Migration {
  int version;
  std::string_view name;
  std::string_view sql;
};

// The files of migrations/ as compiled into this binary, in version order.
const std::vector<Migration>& embedded_migrations();

struct MigrationReport {
  std::vector<std::string> applied;  // names applied by this run
  std::size_t already_applied = 0;
};

// Throws DbError when a migration fails (that file is rolled back, earlier ones stay), and
// core::InfraError(kInternal, MIGRATION_CHANGED) when an applied file was edited.
boost::asio::awaitable<MigrationReport> migrate(Pool& pool,
                                                const std::vector<Migration>& migrations);

}  // namespace ticketd::infra::pg
