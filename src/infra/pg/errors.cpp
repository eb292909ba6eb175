#include "infra/pg/errors.hpp"

#include <string_view>

namespace ticketd::infra::pg {
namespace {

struct Mapping {
  core::ErrorKind kind;
  const char* code;
};

Mapping classify(std::string_view state) {
  using core::ErrorKind;
  if (state == "23505") return {ErrorKind::kConflict, "UNIQUE_VIOLATION"};
  if (state == "23P01") return {ErrorKind::kConflict, "EXCLUSION_VIOLATION"};
  if (state == "23514") return {ErrorKind::kUnprocessable, "CHECK_VIOLATION"};
  if (state == "23502") return {ErrorKind::kUnprocessable, "NOT_NULL_VIOLATION"};
  if (state == "23503") return {ErrorKind::kUnprocessable, "FOREIGN_KEY_VIOLATION"};
  if (state == "40001" || state == "40P01") return {ErrorKind::kConflict, "SERIALIZATION_FAILURE"};
  if (state == "55P03") return {ErrorKind::kConflict, "LOCK_TIMEOUT"};
  // Raised by the schema's transition and last-admin triggers.
  if (state == "55000") return {ErrorKind::kConflict, "INVALID_STATE"};
  if (state == "57014") return {ErrorKind::kUnavailable, "STATEMENT_TIMEOUT"};
  if (state.starts_with("08") || state == "57P01" || state == "57P02" || state == "57P03") {
    return {ErrorKind::kUnavailable, "DB_UNAVAILABLE"};
  }
  if (state.starts_with("53")) return {ErrorKind::kUnavailable, "DB_OVERLOADED"};
  if (state.starts_with("22")) return {ErrorKind::kUnprocessable, "INVALID_VALUE"};
  return {ErrorKind::kInternal, "DB_ERROR"};
}

std::string field(const PGresult* res, int code) {
  const char* v = PQresultErrorField(res, code);
  return v == nullptr ? std::string{} : std::string(v);
}

}  // namespace

DbError error_from_result(const PGresult* res) {
  std::string state = field(res, PG_DIAG_SQLSTATE);
  const auto m = classify(state);
  std::string message = res ? PQresultErrorMessage(res) : "no result";
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  return DbError(m.kind, m.code, state, field(res, PG_DIAG_CONSTRAINT_NAME),
                 "postgres " + state + ": " + message, field(res, PG_DIAG_MESSAGE_PRIMARY));
}

DbError connection_error(const std::string& detail) {
  return DbError(core::ErrorKind::kUnavailable, "DB_UNAVAILABLE", "08006", {},
                 "postgres connection: " + detail);
}

}  // namespace ticketd::infra::pg
