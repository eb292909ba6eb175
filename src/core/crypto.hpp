#pragma once
// Small libsodium-backed helpers shared by webhooks (HMAC), ticket codes (base64url) and tests.
#include <optional>
#include <string>
#include <string_view>

namespace ticketd::core {

// Lowercase hex of HMAC-SHA256(key, message).
std::string hmac_sha256_hex(std::string_view key, std::string_view message);

// Equality in time that depends only on the lengths (sodium_memcmp), for secrets and MACs.
bool constant_time_equal(std::string_view a, std::string_view b) noexcept;

// base64url without padding, and its strict inverse (std::nullopt for anything else).
std::string base64url_encode(std::string_view bytes);
std::optional<std::string> base64url_decode(std::string_view text);

// The 16 bytes of a canonical UUID and back (std::nullopt / lowercase canonical form).
std::optional<std::string> uuid_to_bytes(std::string_view uuid);
std::string uuid_from_bytes(std::string_view bytes16);

}  // namespace ticketd::core
