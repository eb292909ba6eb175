#pragma once
#include <libpq-fe.h>

#include <string>

#include "core/errors.hpp"

namespace ticketd::infra::pg {

// A PostgreSQL error, classified by SQLSTATE (unique violation → kConflict, check/not-null/FK →
// kUnprocessable, serialization failure and deadlock → kConflict and retryable, connection loss,
// shutdown and statement timeout → kUnavailable). Repositories catch it to turn a named
// constraint into a domain outcome.
class DbError : public core::InfraError {
 public:
  DbError(core::ErrorKind kind, std::string code, std::string sqlstate, std::string constraint,
          const std::string& detail, std::string primary = {})
      : core::InfraError(kind, std::move(code), detail),
        sqlstate_(std::move(sqlstate)),
        constraint_(std::move(constraint)),
        primary_(std::move(primary)) {}

  const std::string& sqlstate() const noexcept { return sqlstate_; }
  const std::string& constraint() const noexcept { return constraint_; }
  // The server's primary message alone (what a function's RAISE said), for outcomes that
  // database functions report as errors so that their writes roll back.
  const std::string& primary() const noexcept { return primary_; }
  bool is_unique_violation() const noexcept { return sqlstate_ == "23505"; }
  // Serialization failure or deadlock: the whole transaction may be retried.
  bool is_retryable() const noexcept { return sqlstate_ == "40001" || sqlstate_ == "40P01"; }
  bool is_lock_timeout() const noexcept { return sqlstate_ == "55P03"; }

 private:
  std::string sqlstate_;
  std::string constraint_;
  std::string primary_;
};

// Builds the error for a failed result (sqlstate, constraint and message from the result).
DbError error_from_result(const PGresult* res);
// Builds the error for a lost or failed connection.
DbError connection_error(const std::string& detail);

}  // namespace ticketd::infra::pg
