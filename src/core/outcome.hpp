#pragma once
// Outcome words returned by database functions ("CREATED", "SOLD_OUT") mapped to a typed enum in
// one place. A word the table does not know means the SQL and the C++ disagree (a function file
// newer than the binary, a typo): it fails loudly instead of becoming some other outcome.
#include <array>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace ticketd::core {

template <typename Enum, std::size_t N>
using OutcomeTable = std::array<std::pair<std::string_view, Enum>, N>;

// The enum value of `word`; throws std::logic_error (a 500, logged) for an unknown word.
template <typename Enum, std::size_t N>
Enum outcome_of(std::string_view word, const OutcomeTable<Enum, N>& table,
                std::string_view function) {
  for (const auto& [name, value] : table) {
    if (name == word) return value;
  }
  throw std::logic_error(std::string(function) + " returned the unknown outcome '" +
                         std::string(word) + "'");
}

}  // namespace ticketd::core
