#pragma once
// A venue layout as a client sends it (openapi/openapi.yaml, POST /orgs/{orgId}/venues): sections →
// rows → seats, where a row gives either a seat count (seats 1..n) or an explicit list. Parsing
// validates the whole document in one pass and derives the stable identities: section codes and
// seat codes "SECTION-ROW-SEAT". Component alphabets exclude '-', so distinct (section, row, seat)
// triples always give distinct seat codes.
#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/validation.hpp"

namespace ticketd::venues {

struct SeatSpec {
  std::int64_t number = 0;
  std::optional<std::string> label;
  std::optional<double> x;
  std::optional<double> y;
};

struct RowSpec {
  std::string name;
  std::int64_t sort_order = 0;
  std::vector<SeatSpec> seats;
};

struct SectionSpec {
  std::string name;
  std::string code;
  // Absent: after the venue's existing sections, in request order.
  std::optional<std::int64_t> sort_order;
  std::vector<RowSpec> rows;
};

struct LayoutLimits {
  std::size_t max_sections = 500;
  std::size_t max_rows_per_section = 1'000;
  std::size_t max_seats_per_row = 1'000;
  std::size_t max_total_seats = 100'000;
  std::int64_t max_seat_number = 100'000;
};

struct Layout {
  std::vector<SectionSpec> sections;
  std::size_t row_count = 0;
  std::size_t seat_count = 0;
};

// Reads `field` (an array of sections) of `reader`'s object. Problems are recorded in `reader`
// (the caller calls finish()).
Layout read_layout(core::ObjectReader& reader, std::string_view field, const LayoutLimits& limits);

// The code derived from a section name: its ASCII letters and digits, upper-cased, at most 16.
std::string derive_section_code(std::string_view name);
bool is_valid_section_code(std::string_view code) noexcept;
bool is_valid_row_name(std::string_view name) noexcept;
std::string seat_code(std::string_view section_code, std::string_view row_name,
                      std::int64_t seat_number);

}  // namespace ticketd::venues
