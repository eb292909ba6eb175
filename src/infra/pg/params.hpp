#pragma once
// Statement parameters in text format. NULL is std::nullopt.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace ticketd::infra::pg {

class Params {
 public:
  Params() = default;
  template <typename... Args>
  explicit Params(Args&&... args) {
    values_.reserve(sizeof...(args));
    (add(std::forward<Args>(args)), ...);
  }

  Params& add(std::nullopt_t) {
    values_.emplace_back(std::nullopt);
    return *this;
  }
  Params& add(std::string_view v) {
    values_.emplace_back(std::string(v));
    return *this;
  }
  Params& add(const std::string& v) { return add(std::string_view(v)); }
  Params& add(std::string&& v) {
    values_.emplace_back(std::move(v));
    return *this;
  }
  Params& add(const char* v) { return add(std::string_view(v)); }
  Params& add(bool v) {
    values_.emplace_back(v ? "t" : "f");
    return *this;
  }
  template <typename Int>
  requires(std::is_integral_v<Int> && !std::is_same_v<Int, bool>) Params& add(Int v) {
    values_.emplace_back(std::to_string(v));
    return *this;
  }
  Params& add(double v) {
    values_.emplace_back(std::to_string(v));
    return *this;
  }
  template <typename T>
  Params& add(const std::optional<T>& v) {
    if (!v) return add(std::nullopt);
    return add(*v);
  }

  std::size_t size() const noexcept { return values_.size(); }
  const std::vector<std::optional<std::string>>& values() const noexcept { return values_; }

 private:
  std::vector<std::optional<std::string>> values_;
};

}  // namespace ticketd::infra::pg
