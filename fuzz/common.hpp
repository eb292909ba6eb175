#pragma once
// Shared by the fuzz targets: what every refusal must look like. A reader may refuse any input,
// but only as a client error (400/413/415/422); anything else (an internal error, a crash, a
// sanitizer report) is a finding.
#include <cstdio>
#include <cstdlib>

#include "core/errors.hpp"

namespace ticketd::fuzz {

inline void expect_client_error(const core::ApiError& e) {
  switch (e.kind()) {
    case core::ErrorKind::kInvalid:
    case core::ErrorKind::kUnprocessable:
    case core::ErrorKind::kTooLarge:
    case core::ErrorKind::kUnsupportedMediaType:
    case core::ErrorKind::kNotFound:
      return;
    default:
      std::fprintf(stderr, "refused with a non-client error: %s\n", e.code().c_str());
      std::abort();
  }
}

// A property the target checks; aborts (a libFuzzer crash) with `what` when it does not hold.
inline void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "property violated: %s\n", what);
    std::abort();
  }
}

}  // namespace ticketd::fuzz
