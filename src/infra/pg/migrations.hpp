#pragma once
// The schema in two layers, both embedded at build time and applied under one PostgreSQL advisory
// lock so several instances starting together apply each file once:
// - migrations/NNNN_name.sql: tables, constraints, indexes, data. Forward-only, in version order,
//   each in its own transaction; a file changed after it was applied is refused (checksum).
// - sql/functions/<name>.sql: the current definition of each function (CREATE OR REPLACE), one
//   file each, so the code that runs is read in one place. After the migrations, every file whose
//   checksum differs from the one recorded in schema_functions is applied, all in one
//   transaction with their new checksums. Old migrations keep their historical bodies; the
//   function files replace them. A function whose signature changes is dropped by a migration
//   (which runs first) and created again by its file.
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

struct SqlFile {
  std::string_view name;
  std::string_view sql;
};

// The files of migrations/ as compiled into this binary, in version order.
const std::vector<Migration>& embedded_migrations();
// The files of sql/functions/, by name.
const std::vector<SqlFile>& embedded_functions();

struct MigrationReport {
  std::vector<std::string> applied;  // names applied by this run
  std::size_t already_applied = 0;
  std::vector<std::string> functions_applied;  // function files (re-)applied by this run
};

// Throws DbError when a migration fails (that file is rolled back, earlier ones stay) or a
// function file fails (no function file of this run is applied), and
// core::InfraError(kInternal, MIGRATION_CHANGED) when an applied migration was edited.
// Takes the lists by value: they must outlive the coroutine (string_views into static text).
boost::asio::awaitable<MigrationReport> migrate(Pool& pool, std::vector<Migration> migrations,
                                                std::vector<SqlFile> functions = {});

}  // namespace ticketd::infra::pg
