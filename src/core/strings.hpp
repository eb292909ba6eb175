#pragma once
#include <string_view>

namespace ticketd::core {

// `s` without leading and trailing spaces, tabs and carriage returns: HTTP's optional
// whitespace around list items, and .env lines written with CRLF.
inline std::string_view trim(std::string_view s) {
  constexpr std::string_view kSpace = " \t\r";
  const auto first = s.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(kSpace) - first + 1);
}

}  // namespace ticketd::core
