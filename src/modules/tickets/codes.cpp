#include "modules/tickets/codes.hpp"

#include <sodium.h>

#include <stdexcept>

#include "core/crypto.hpp"
#include "core/ids.hpp"

namespace ticketd::tickets {

namespace {

constexpr std::string_view kPrefix = "TK1";
constexpr std::string_view kDomain = "ticketd/ticket/v1";

std::string signed_message(std::string_view ticket_bytes, std::string_view event_id) {
  const auto event_bytes = core::uuid_to_bytes(event_id);
  if (!event_bytes || ticket_bytes.size() != 16) {
    throw std::invalid_argument("ticket code: ids must be UUIDs");
  }
  std::string m(kDomain);
  m += ticket_bytes;
  m += *event_bytes;
  return m;
}

}  // namespace

KeyPair new_key_pair() {
  std::string seed(crypto_sign_SEEDBYTES, '\0');
  randombytes_buf(seed.data(), seed.size());
  auto key = key_pair_from_seed(seed);
  sodium_memzero(seed.data(), seed.size());
  return key;
}

KeyPair key_pair_from_seed(std::string_view seed) {
  if (seed.size() != crypto_sign_SEEDBYTES) throw std::invalid_argument("seed must be 32 bytes");
  KeyPair k;
  k.public_key.resize(crypto_sign_PUBLICKEYBYTES);
  k.secret_key.resize(crypto_sign_SECRETKEYBYTES);
  crypto_sign_seed_keypair(reinterpret_cast<unsigned char*>(k.public_key.data()),
                           reinterpret_cast<unsigned char*>(k.secret_key.data()),
                           reinterpret_cast<const unsigned char*>(seed.data()));
  return k;
}

std::string seed_of(const KeyPair& key) {
  std::string seed(crypto_sign_SEEDBYTES, '\0');
  crypto_sign_ed25519_sk_to_seed(reinterpret_cast<unsigned char*>(seed.data()),
                                 reinterpret_cast<const unsigned char*>(key.secret_key.data()));
  return seed;
}

std::string make_ticket_code(std::string_view ticket_id, std::string_view event_id,
                             const KeyPair& key) {
  const auto ticket_bytes = core::uuid_to_bytes(ticket_id);
  if (!ticket_bytes) throw std::invalid_argument("ticket code: ticket id must be a UUID");
  const auto message = signed_message(*ticket_bytes, event_id);
  std::string sig(crypto_sign_BYTES, '\0');
  crypto_sign_detached(reinterpret_cast<unsigned char*>(sig.data()), nullptr,
                       reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                       reinterpret_cast<const unsigned char*>(key.secret_key.data()));
  return std::string(kPrefix) + core::base64url_encode(*ticket_bytes + sig);
}

std::optional<ParsedCode> parse_ticket_code(std::string_view code) {
  if (code.size() != kPrefix.size() + 107 || !code.starts_with(kPrefix)) return std::nullopt;
  auto raw = core::base64url_decode(code.substr(kPrefix.size()));
  if (!raw || raw->size() != 16 + crypto_sign_BYTES) return std::nullopt;
  ParsedCode out;
  out.ticket_id = core::uuid_from_bytes(std::string_view(*raw).substr(0, 16));
  out.signature = raw->substr(16);
  return out;
}

bool verify_ticket_code(const ParsedCode& code, std::string_view event_id,
                        std::string_view public_key) {
  if (public_key.size() != crypto_sign_PUBLICKEYBYTES ||
      code.signature.size() != crypto_sign_BYTES || !core::is_uuid(event_id)) {
    return false;
  }
  const auto ticket_bytes = core::uuid_to_bytes(code.ticket_id);
  if (!ticket_bytes) return false;
  const auto message = signed_message(*ticket_bytes, event_id);
  return crypto_sign_verify_detached(
             reinterpret_cast<const unsigned char*>(code.signature.data()),
             reinterpret_cast<const unsigned char*>(message.data()), message.size(),
             reinterpret_cast<const unsigned char*>(public_key.data())) == 0;
}

std::string key_id_of(std::string_view public_key) {
  return core::blake2b_hex(public_key, 16).substr(0, 16);
}

}  // namespace ticketd::tickets
