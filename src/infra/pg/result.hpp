#pragma once
#include <libpq-fe.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace ticketd::infra::pg {

// A PGresult in text format, owned. Column access by index; column_index() looks a name up once.
class Result {
 public:
  Result() = default;
  explicit Result(PGresult* r) : res_(r) {}

  int rows() const noexcept { return res_ ? PQntuples(res_.get()) : 0; }
  int columns() const noexcept { return res_ ? PQnfields(res_.get()) : 0; }
  bool empty() const noexcept { return rows() == 0; }
  // Rows touched by INSERT/UPDATE/DELETE (also with RETURNING).
  std::int64_t affected() const noexcept;
  // Throws std::out_of_range when the column does not exist (a bug in the SQL constant).
  int column_index(std::string_view name) const;

  bool is_null(int row, int col) const noexcept { return PQgetisnull(res_.get(), row, col) != 0; }
  std::string_view text(int row, int col) const noexcept {
    return {PQgetvalue(res_.get(), row, col),
            static_cast<std::size_t>(PQgetlength(res_.get(), row, col))};
  }
  std::string string(int row, int col) const { return std::string(text(row, col)); }
  // Integer, boolean and floating columns; throw std::invalid_argument on NULL or bad text.
  std::int64_t int64(int row, int col) const;
  bool boolean(int row, int col) const;
  double float64(int row, int col) const;

  std::optional<std::string> opt_string(int row, int col) const {
    if (is_null(row, col)) return std::nullopt;
    return string(row, col);
  }
  std::optional<std::int64_t> opt_int64(int row, int col) const {
    if (is_null(row, col)) return std::nullopt;
    return int64(row, col);
  }

  PGresult* get() const noexcept { return res_.get(); }

 private:
  struct Clear {
    void operator()(PGresult* r) const noexcept { PQclear(r); }
  };
  std::unique_ptr<PGresult, Clear> res_;
};

// Every row of `r` read by `read(r, row)` (a model's row reader), in order.
template <typename Read>
auto rows_of(const Result& r, Read&& read) {
  std::vector<std::invoke_result_t<Read&, const Result&, int>> out;
  out.reserve(static_cast<std::size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) out.push_back(read(r, i));
  return out;
}

}  // namespace ticketd::infra::pg
