// The payment webhook signature header (`t=<unix>,v1=<hex>`): any header and body are judged
// without crashing, only a signature made with one of the secrets is valid, and the signature
// we make for any body verifies.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common.hpp"
#include "modules/payments/signature.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace payments = ticketd::payments;
  using ticketd::fuzz::check;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  // The first line is the header, the rest the body.
  const auto nl = input.find('\n');
  const std::string_view header = input.substr(0, nl);
  const std::string_view body = nl == std::string_view::npos ? "" : input.substr(nl + 1);
  const std::vector<std::string> secrets{"fuzz-secret-current", "fuzz-secret-previous"};
  constexpr std::int64_t kNow = 1'800'000'000;
  const auto verdict = payments::verify_webhook_signature(header, body, secrets, kNow, 300);
  if (verdict == payments::SignatureVerdict::kValid) {
    // Only a header that carries one of our own signatures of this body can pass.
    bool ours = false;
    for (std::int64_t t = kNow - 300; t <= kNow + 300 && !ours; ++t) {
      for (const auto& s : secrets) {
        const auto mine = payments::sign_webhook(body, s, t);
        const auto v1 = mine.substr(mine.find("v1="));
        if (header.find(v1) != std::string_view::npos) ours = true;
      }
    }
    check(ours, "a valid verdict needs a signature made with a secret");
  }
  const auto signed_header = payments::sign_webhook(body, secrets[1], kNow - 10);
  check(payments::verify_webhook_signature(signed_header, body, secrets, kNow, 300) ==
            payments::SignatureVerdict::kValid,
        "our own signature verifies");
  check(payments::verify_webhook_signature(signed_header, body, {"another-secret"}, kNow, 300) ==
            payments::SignatureVerdict::kMismatch,
        "another secret does not verify it");
  return 0;
}
