#pragma once
// Argon2id password hashing (libsodium crypto_pwhash_str, "interactive" limits: 2 passes,
// 64 MiB). Both calls are CPU- and memory-heavy by design: run them on a CpuPool, never on an
// I/O thread.
#include <string>
#include <string_view>

namespace ticketd::iam {

struct PasswordParams {
  unsigned long long opslimit;
  std::size_t memlimit;
};
PasswordParams password_params() noexcept;

std::string hash_password(std::string_view password);
// Constant-time comparison inside libsodium; false for a malformed hash too.
bool verify_password(std::string_view hash, std::string_view password);

}  // namespace ticketd::iam
