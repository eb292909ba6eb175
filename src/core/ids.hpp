#pragma once
#include <string>
#include <string_view>

namespace ticketd::core {

// A random (version 4) UUID in canonical lowercase form, from libsodium's CSPRNG.
std::string new_uuid();

// True for the canonical 8-4-4-4-12 hex form, any case. Path ids that fail this answer 404.
bool is_uuid(std::string_view s) noexcept;

// `n` random bytes as lowercase hex (request ids, opaque tokens).
std::string random_hex(std::size_t n);

}  // namespace ticketd::core
