#include "modules/queue/passes.hpp"

#include <charconv>

#include "core/crypto.hpp"

namespace ticketd::queue {

namespace {

constexpr std::string_view kPurpose = "ticketd waiting-room admission tokens v1";

}  // namespace

Passes::Passes(std::string_view secret, const std::vector<std::string>& previous) {
  keys_.push_back(core::hmac_sha256_hex(secret, kPurpose));
  for (const auto& p : previous) keys_.push_back(core::hmac_sha256_hex(p, kPurpose));
}

std::string Passes::mac(const std::string& key, std::string_view user_id, std::string_view event_id,
                        std::string_view expires) {
  std::string message;
  message.reserve(user_id.size() + event_id.size() + expires.size() + 2);
  message.append(user_id).append("|").append(event_id).append("|").append(expires);
  return core::hmac_sha256_hex(key, message);
}

std::string Passes::issue(std::string_view user_id, std::string_view event_id,
                          std::int64_t expires_ms) const {
  const std::string expires = std::to_string(expires_ms);
  return expires + "." + mac(keys_.front(), user_id, event_id, expires);
}

bool Passes::valid(std::string_view token, std::string_view user_id, std::string_view event_id,
                   std::int64_t now_ms) const {
  const auto dot = token.find('.');
  if (dot == std::string_view::npos || dot == 0 || token.size() > 128) return false;
  const std::string_view expires = token.substr(0, dot);
  std::int64_t expires_ms = 0;
  const auto [end, ec] =
      std::from_chars(expires.data(), expires.data() + expires.size(), expires_ms);
  if (ec != std::errc{} || end != expires.data() + expires.size() || expires_ms <= now_ms) {
    return false;
  }
  for (const auto& key : keys_) {
    if (core::constant_time_equal(token.substr(dot + 1), mac(key, user_id, event_id, expires))) {
      return true;
    }
  }
  return false;
}

}  // namespace ticketd::queue
