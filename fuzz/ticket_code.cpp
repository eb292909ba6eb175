// Ticket codes as scanners send them: any text is parsed without crashing, and only the code we
// made for a ticket of this event verifies with the organization's key.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common.hpp"
#include "modules/tickets/codes.hpp"

namespace {

constexpr std::string_view kTicket = "0b7e4c52-9d3a-4f6e-8c21-5a9f0e3d7b14";
constexpr std::string_view kEvent = "1c8f5d63-ae4b-4071-9d32-6b0a1f4e8c25";

const ticketd::tickets::KeyPair& key() {
  static const auto k = ticketd::tickets::key_pair_from_seed(std::string(32, 'k'));
  return k;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace tickets = ticketd::tickets;
  using ticketd::fuzz::check;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  static const std::string real = tickets::make_ticket_code(kTicket, kEvent, key());
  if (const auto parsed = tickets::parse_ticket_code(input)) {
    check(parsed->ticket_id.size() == 36 && parsed->signature.size() == 64, "parsed parts");
    if (tickets::verify_ticket_code(*parsed, kEvent, key().public_key)) {
      check(parsed->ticket_id == kTicket, "only the issued ticket verifies");
    }
  }
  // The real code with one character changed by the input: never verifies as another ticket.
  if (size >= 2) {
    std::string edited = real;
    edited[data[0] % edited.size()] = static_cast<char>(data[1]);
    if (const auto parsed = tickets::parse_ticket_code(edited)) {
      if (tickets::verify_ticket_code(*parsed, kEvent, key().public_key)) {
        check(parsed->ticket_id == kTicket, "an edited code is not another ticket");
      }
    }
  }
  return 0;
}
