#pragma once
// Small libsodium-backed helpers: hex, digests (ETags, stored token hashes, checksums), HMAC
// (webhooks), base64url (ticket codes) and UUID bytes.
#include <optional>
#include <string>
#include <string_view>

namespace ticketd::core {

// Lowercase hex of `bytes`.
std::string to_hex(std::string_view bytes);

// Lowercase hex of a BLAKE2b digest of `bytes` length (16..64): ETags and checksums.
std::string blake2b_hex(std::string_view data, std::size_t bytes);
// A weak HTTP validator of a payload: W/"<32 hex digits of its BLAKE2b>".
std::string weak_etag(std::string_view payload);
// Lowercase hex of the SHA-256 of `data`: what the database stores for tokens and keys.
std::string sha256_hex(std::string_view data);

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
