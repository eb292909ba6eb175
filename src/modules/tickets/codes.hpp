#pragma once
// Ticket codes: unguessable and verifiable offline. A code is
//   "TK1" + base64url( ticket id (16 bytes) || Ed25519 signature (64 bytes) )
// 110 characters, QR-friendly (alphanumeric plus '-' and '_'), where the signature is by the
// organization's key over "ticketd/ticket/v1" || ticket id || event id. A scanner holding the
// organization's public key (GET /orgs/:orgId/ticket-key) and knowing which event it admits to
// checks a code without asking the server; the server additionally requires the exact stored
// code, so a leaked key alone cannot check in a ticket that was never issued.
#include <optional>
#include <string>
#include <string_view>

namespace ticketd::tickets {

struct KeyPair {
  std::string public_key;  // 32 bytes
  std::string secret_key;  // 64 bytes (libsodium's seed || public key form)
};

KeyPair new_key_pair();
// Deterministic from a 32-byte seed (how sealed keys are stored).
KeyPair key_pair_from_seed(std::string_view seed);
std::string seed_of(const KeyPair& key);

// ticket_id and event_id are canonical UUIDs.
std::string make_ticket_code(std::string_view ticket_id, std::string_view event_id,
                             const KeyPair& key);

struct ParsedCode {
  std::string ticket_id;  // canonical UUID
  std::string signature;  // 64 bytes
};

// std::nullopt for anything that is not a well-formed code.
std::optional<ParsedCode> parse_ticket_code(std::string_view code);

bool verify_ticket_code(const ParsedCode& code, std::string_view event_id,
                        std::string_view public_key);

// Short printable id of a public key (first 8 bytes of its BLAKE2b, hex).
std::string key_id_of(std::string_view public_key);

}  // namespace ticketd::tickets
