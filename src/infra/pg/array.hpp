#pragma once
// PostgreSQL array literals ('{"a","b",NULL}') for passing whole columns as one text
// parameter: bulk inserts go through `unnest($1::text[], $2::int[], ...)` in one statement
// instead of one statement per row.
#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ticketd::infra::pg {

class ArrayLiteral {
 public:
  ArrayLiteral() { out_ += '{'; }
  void reserve(std::size_t bytes) { out_.reserve(bytes); }

  ArrayLiteral& add(std::string_view v) {
    sep();
    out_ += '"';
    for (char c : v) {
      if (c == '"' || c == '\\') out_ += '\\';
      out_ += c;
    }
    out_ += '"';
    return *this;
  }
  ArrayLiteral& add(std::int64_t v) {
    sep();
    out_ += std::to_string(v);
    return *this;
  }
  ArrayLiteral& add(double v) {
    sep();
    char buf[32];
    auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out_.append(buf, p);
    return *this;
  }
  ArrayLiteral& add_null() {
    sep();
    out_ += "NULL";
    return *this;
  }
  template <typename T>
  ArrayLiteral& add(const std::optional<T>& v) {
    return v ? add(*v) : add_null();
  }

  std::size_t size() const noexcept { return count_; }
  // The literal; the builder is spent afterwards.
  std::string str() && {
    out_ += '}';
    return std::move(out_);
  }

 private:
  void sep() {
    if (count_++ > 0) out_ += ',';
  }
  std::string out_;
  std::size_t count_ = 0;
};

}  // namespace ticketd::infra::pg
