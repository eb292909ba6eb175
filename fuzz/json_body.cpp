// Request bodies: the JSON parser, every ObjectReader accessor over whatever members arrive, and
// the venue layout expander (the largest document a client sends). Any input may be refused, but
// only as a client error, and an accepted layout must be consistent.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "common.hpp"
#include "core/json.hpp"
#include "core/validation.hpp"
#include "modules/venues/layout.hpp"

namespace {

using ticketd::core::ApiError;
using ticketd::core::ObjectReader;
namespace fuzz = ticketd::fuzz;
namespace venues = ticketd::venues;

// Each member read as what it is and as something it is not: both must only ever record
// problems (a wrong type is a 400, a bad value a 422), never throw anything else.
void read_every_member(const boost::json::value& doc) {
  ObjectReader r(doc);
  for (const auto& member : doc.as_object()) {
    const std::string_view key = member.key();
    switch (member.value().kind()) {
      case boost::json::kind::string:
        r.string(key, true, ticketd::core::Chars::kText);
        r.integer(key, false);
        break;
      case boost::json::kind::int64:
      case boost::json::kind::uint64:
        r.integer(key, true);
        r.number(key, false);
        break;
      case boost::json::kind::double_:
        r.number(key, true);
        r.integer(key, false);
        break;
      case boost::json::kind::bool_:
        r.boolean(key, true);
        break;
      case boost::json::kind::array:
        r.array(key, true);
        r.nullable_string(key);
        break;
      case boost::json::kind::object: {
        ObjectReader nested(member.value(), std::string(key), r);
        nested.nullable_integer("n");
        nested.finish();
        break;
      }
      case boost::json::kind::null:
        r.nullable_string(key);
        r.nullable_integer(key);
        break;
    }
    r.length(key, std::string(key), 1, 8);
  }
  r.finish();
}

// Small limits keep each run fast; the checks of the limits are the same code at any size.
void expand_layout(const boost::json::value& doc) {
  venues::LayoutLimits limits;
  limits.max_sections = 8;
  limits.max_rows_per_section = 16;
  limits.max_seats_per_row = 32;
  limits.max_total_seats = 512;
  limits.max_seat_number = 1'000;
  ObjectReader r(doc);
  const auto layout = venues::read_layout(r, "sections", limits);
  r.allow("name");
  r.finish();
  // Accepted: every code is valid and distinct, and the counts add up.
  std::set<std::string> sections;
  std::set<std::string> seats;
  std::size_t rows = 0;
  for (const auto& s : layout.sections) {
    fuzz::check(venues::is_valid_section_code(s.code), "accepted section code is valid");
    fuzz::check(sections.insert(s.code).second, "section codes are distinct");
    for (const auto& row : s.rows) {
      ++rows;
      fuzz::check(venues::is_valid_row_name(row.name), "accepted row name is valid");
      for (const auto& seat : row.seats) {
        fuzz::check(seat.number >= 1 && seat.number <= limits.max_seat_number, "seat number");
        fuzz::check(seats.insert(venues::seat_code(s.code, row.name, seat.number)).second,
                    "seat codes are distinct");
      }
    }
  }
  fuzz::check(rows == layout.row_count, "row count adds up");
  fuzz::check(seats.size() == layout.seat_count, "seat count adds up");
  fuzz::check(layout.seat_count <= limits.max_total_seats, "seat limit holds");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  boost::json::value doc;
  try {
    doc = ticketd::core::json::parse(text);
  } catch (const ApiError& e) {
    fuzz::expect_client_error(e);
    return 0;
  }
  for (auto* step : {&read_every_member, &expand_layout}) {
    try {
      step(doc);
    } catch (const ApiError& e) {
      fuzz::expect_client_error(e);
    }
  }
  return 0;
}
