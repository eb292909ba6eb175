#include "modules/iam/passwords.hpp"

#include <sodium.h>

#include <stdexcept>

namespace ticketd::iam {

PasswordParams password_params() noexcept {
  return {crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE};
}

std::string hash_password(std::string_view password) {
  char out[crypto_pwhash_STRBYTES];
  const auto p = password_params();
  if (crypto_pwhash_str(out, password.data(), password.size(), p.opslimit, p.memlimit) != 0) {
    throw std::runtime_error("password hashing ran out of memory");
  }
  return out;
}

bool verify_password(std::string_view hash, std::string_view password) {
  const std::string h(hash);  // libsodium wants a NUL-terminated string
  return crypto_pwhash_str_verify(h.c_str(), password.data(), password.size()) == 0;
}

}  // namespace ticketd::iam
