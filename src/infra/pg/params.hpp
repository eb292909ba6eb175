#pragma once
// Statement parameters in text format. NULL is std::nullopt. libpq sends text parameters as
// C strings, so a NUL byte would silently cut the value short (and PostgreSQL text cannot hold
// one anyway): such a value is refused with InfraError kUnprocessable before anything is sent,
// whichever path it came by. Validation rejects control characters earlier with a better
// message; this is the guarantee that nothing is stored other than what was accepted.
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "core/errors.hpp"

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
    refuse_nul(v);
    values_.emplace_back(std::string(v));
    return *this;
  }
  Params& add(const std::string& v) { return add(std::string_view(v)); }
  Params& add(std::string&& v) {
    refuse_nul(v);
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
  static void refuse_nul(std::string_view v) {
    if (!v.empty() && std::memchr(v.data(), '\0', v.size()) != nullptr) {
      throw core::InfraError(core::ErrorKind::kUnprocessable, "NUL_IN_TEXT",
                             "a statement parameter contains a NUL byte");
    }
  }

  std::vector<std::optional<std::string>> values_;
};

}  // namespace ticketd::infra::pg
