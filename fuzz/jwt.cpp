// Access tokens: any text offered as a bearer token is judged without crashing, and the first
// input bytes also pick an edit of a token we issued: an edited token either fails or (when the
// edit only touched bits base64url ignores) still carries exactly the issued claims.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common.hpp"
#include "modules/iam/tokens.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace iam = ticketd::iam;
  using ticketd::fuzz::check;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  iam::TokenSettings settings;
  settings.secret = "fuzz-jwt-secret-0123456789-0123456789";
  settings.previous_secrets = {"fuzz-jwt-previous-0123456789-0123456789"};
  constexpr std::int64_t kNow = 1'800'000'000;

  const auto any = iam::verify_access_token(settings, input, kNow);
  check(any.claims.has_value() != any.problem.has_value(), "claims or a problem, never both");
  if (const auto token = iam::bearer_token(input)) {
    check(!token->empty() && token->find(' ') == std::string_view::npos,
          "a bearer token is one word");
  }

  const iam::AccessClaims claims{"0b7e4c52-9d3a-4f6e-8c21-5a9f0e3d7b14",
                                 "1c8f5d63-ae4b-4071-9d32-6b0a1f4e8c25", "jti-fuzz", 0};
  std::string token = iam::issue_access_token(settings, claims, kNow);
  if (size >= 2) {
    const std::size_t at = data[0] % token.size();
    token[at] = static_cast<char>(data[1]);
  }
  const auto edited = iam::verify_access_token(settings, token, kNow);
  if (edited.claims) {
    check(edited.claims->user_id == claims.user_id &&
              edited.claims->session_id == claims.session_id &&
              edited.claims->token_id == claims.token_id,
          "a token that verifies carries the issued claims");
  }
  check(!iam::verify_access_token(settings, token, kNow + 901).claims, "an expired token fails");
  return 0;
}
