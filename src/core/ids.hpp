#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ticketd::core {

// A random (version 4) UUID in canonical lowercase form, from libsodium's CSPRNG.
std::string new_uuid();

// True for the canonical 8-4-4-4-12 hex form, any case. Path ids that fail this answer 404.
bool is_uuid(std::string_view s) noexcept;
// The lowercase form of a UUID given in any case (how ids are compared and stored), or nullopt
// when `s` is not one.
std::optional<std::string> canonical_uuid(std::string_view s);

// Three uppercase ASCII letters, the shape of an ISO 4217 code (USD, EUR).
bool is_currency_code(std::string_view s) noexcept;

// A uniform random number in [0, bound) (jitter, sampling), from libsodium's CSPRNG.
std::uint32_t random_below(std::uint32_t bound);

// `n` random bytes as lowercase hex (request ids, opaque tokens).
std::string random_hex(std::size_t n);

}  // namespace ticketd::core
