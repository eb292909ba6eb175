#pragma once
// Admission tokens of the waiting room: "<expiry ms>.<HMAC>" bound to one user and one event,
// verified from the token alone (no database, no Redis), so a reserve that carries one costs
// nothing more and tokens keep working while Redis is down.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ticketd::queue {

class Passes {
 public:
  // `secret` is the server's signing secret; the MAC key is derived from it for this use only.
  // Tokens made with one of `previous` (a rotation in progress) stay valid until they expire.
  explicit Passes(std::string_view secret, const std::vector<std::string>& previous = {});

  // The token admitting `user_id` to `event_id` until `expires_ms` (Unix milliseconds).
  std::string issue(std::string_view user_id, std::string_view event_id,
                    std::int64_t expires_ms) const;
  // True when `token` was issued for this user and event and `now_ms` is before its expiry.
  bool valid(std::string_view token, std::string_view user_id, std::string_view event_id,
             std::int64_t now_ms) const;

 private:
  static std::string mac(const std::string& key, std::string_view user_id,
                         std::string_view event_id, std::string_view expires);
  std::vector<std::string> keys_;  // the current one first
};

}  // namespace ticketd::queue
