#include "infra/pg/result.hpp"

#include <charconv>
#include <cstdlib>
#include <stdexcept>

namespace ticketd::infra::pg {

std::int64_t Result::affected() const noexcept {
  if (!res_) return 0;
  const char* s = PQcmdTuples(res_.get());
  if (s == nullptr || *s == '\0') return 0;
  return std::strtoll(s, nullptr, 10);
}

int Result::column_index(std::string_view name) const {
  const std::string n(name);
  const int idx = res_ ? PQfnumber(res_.get(), n.c_str()) : -1;
  if (idx < 0) throw std::out_of_range("no column " + n + " in result");
  return idx;
}

std::int64_t Result::int64(int row, int col) const {
  if (is_null(row, col)) throw std::invalid_argument("NULL where an integer was expected");
  const auto t = text(row, col);
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (ec != std::errc{} || p != t.data() + t.size()) {
    throw std::invalid_argument("not an integer: " + std::string(t));
  }
  return v;
}

bool Result::boolean(int row, int col) const {
  if (is_null(row, col)) throw std::invalid_argument("NULL where a boolean was expected");
  const auto t = text(row, col);
  return t == "t" || t == "true";
}

double Result::float64(int row, int col) const {
  if (is_null(row, col)) throw std::invalid_argument("NULL where a number was expected");
  return std::strtod(string(row, col).c_str(), nullptr);
}

}  // namespace ticketd::infra::pg
