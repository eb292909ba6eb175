#include "modules/venues/layout.hpp"

#include <algorithm>
#include <unordered_set>

namespace ticketd::venues {

namespace {

bool is_alnum(char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

char upper(char c) noexcept {
  return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c;
}

std::string at(std::string_view base, std::size_t i) {
  std::string p(base);
  p += '[';
  p += std::to_string(i);
  p += ']';
  return p;
}

std::optional<SeatSpec> read_seat(const boost::json::value& v, std::string path,
                                  core::ObjectReader& root, const LayoutLimits& limits) {
  core::ObjectReader r(v, std::move(path), root);
  if (!r.ok()) return std::nullopt;
  SeatSpec seat;
  auto number = r.integer("seatNumber", true);
  seat.label = r.string("label", false);
  seat.x = r.number("x", false);
  seat.y = r.number("y", false);
  r.finish();
  if (!number) return std::nullopt;
  if (*number < 1 || *number > limits.max_seat_number) {
    r.invalid("seatNumber", "INVALID_SEAT_NUMBER",
              "seatNumber must be between 1 and " + std::to_string(limits.max_seat_number));
    return std::nullopt;
  }
  r.length("label", seat.label, 1, 32, "INVALID_LABEL");
  seat.number = *number;
  return seat;
}

std::optional<RowSpec> read_row(const boost::json::value& v, std::string path,
                                core::ObjectReader& root, const LayoutLimits& limits,
                                std::int64_t index, std::size_t& total_seats) {
  core::ObjectReader r(v, std::move(path), root);
  if (!r.ok()) return std::nullopt;
  RowSpec row;
  auto name = r.string("name", true);
  auto sort = r.integer("sortOrder", false);
  auto count = r.integer("seatCount", false);
  const auto* seats = r.array("seats", false);
  bool valid = name.has_value();
  if (name && !is_valid_row_name(*name)) {
    r.invalid("name", "INVALID_ROW_NAME",
              "row name must be 1 to 16 letters, digits or '_' (it is part of the seat code)");
    valid = false;
  }
  if (sort && (*sort < -1'000'000 || *sort > 1'000'000)) {
    r.invalid("sortOrder", "INVALID_SORT_ORDER", "sortOrder must be between -1000000 and 1000000");
    valid = false;
  }
  if (count && seats) {
    r.invalid("seatCount", "SEATS_AMBIGUOUS", "give either seatCount or seats, not both");
    valid = false;
  } else if (!count && !seats) {
    r.invalid("seatCount", "SEATS_REQUIRED", "a row needs seatCount or a seats list");
    valid = false;
  }
  if (count && (*count < 1 || static_cast<std::uint64_t>(*count) > limits.max_seats_per_row)) {
    r.invalid("seatCount", "INVALID_SEAT_COUNT",
              "seatCount must be between 1 and " + std::to_string(limits.max_seats_per_row));
    valid = false;
  }
  if (seats && (seats->empty() || seats->size() > limits.max_seats_per_row)) {
    r.invalid("seats", "INVALID_SEAT_COUNT",
              "seats must have 1 to " + std::to_string(limits.max_seats_per_row) + " entries");
    valid = false;
  }
  // The running total is checked before a row is expanded: a 30-byte row must not turn into a
  // thousand seats once the venue is already over its limit (read_layout reports it).
  const std::size_t declared = count   ? static_cast<std::size_t>(std::max<std::int64_t>(*count, 0))
                               : seats ? seats->size()
                                       : 0;
  if (valid && total_seats + declared > limits.max_total_seats) {
    total_seats += declared;
    valid = false;
  }
  if (valid && count) {
    row.seats.resize(static_cast<std::size_t>(*count));
    for (std::int64_t i = 0; i < *count; ++i) row.seats[static_cast<std::size_t>(i)].number = i + 1;
  } else if (valid && seats) {
    row.seats.reserve(seats->size());
    std::unordered_set<std::int64_t> numbers;
    for (std::size_t i = 0; i < seats->size(); ++i) {
      auto seat = read_seat((*seats)[i], at(r.path("seats"), i), root, limits);
      if (!seat) {
        valid = false;
        continue;
      }
      if (!numbers.insert(seat->number).second) {
        root.invalid_at(at(r.path("seats"), i) + ".seatNumber", "DUPLICATE_SEAT",
                        "seat " + std::to_string(seat->number) + " appears twice in this row");
        valid = false;
        continue;
      }
      row.seats.push_back(std::move(*seat));
    }
  }
  r.finish();
  if (!valid) return std::nullopt;
  row.name = std::move(*name);
  row.sort_order = sort.value_or(index);
  total_seats += row.seats.size();
  return row;
}

std::optional<SectionSpec> read_section(const boost::json::value& v, std::string path,
                                        core::ObjectReader& root, const LayoutLimits& limits,
                                        std::size_t& total_seats, std::size_t& total_rows) {
  core::ObjectReader r(v, std::move(path), root);
  if (!r.ok()) return std::nullopt;
  SectionSpec section;
  auto name = r.string("name", true);
  auto code = r.string("code", false);
  auto sort = r.integer("sortOrder", false);
  const auto* rows = r.array("rows", true);
  bool valid = name.has_value() && rows != nullptr;
  if (name && (name->empty() || core::code_points(*name) > 100)) {
    r.invalid("name", "INVALID_NAME", "section name must be 1 to 100 characters");
    valid = false;
  }
  if (code) {
    for (auto& c : *code) c = upper(c);
    if (!is_valid_section_code(*code)) {
      r.invalid("code", "INVALID_CODE", "code must be 1 to 16 letters, digits or '_'");
      valid = false;
    }
  } else if (name) {
    code = derive_section_code(*name);
    if (code->empty()) {
      r.invalid("code", "INVALID_CODE",
                "the name has no letters or digits to derive a code from; give a code");
      valid = false;
    }
  }
  if (sort && (*sort < -1'000'000 || *sort > 1'000'000)) {
    r.invalid("sortOrder", "INVALID_SORT_ORDER", "sortOrder must be between -1000000 and 1000000");
    valid = false;
  }
  if (rows && (rows->empty() || rows->size() > limits.max_rows_per_section)) {
    r.invalid("rows", "INVALID_ROW_COUNT",
              "a section needs 1 to " + std::to_string(limits.max_rows_per_section) + " rows");
    valid = false;
  } else if (rows) {
    std::unordered_set<std::string> names;
    section.rows.reserve(rows->size());
    for (std::size_t i = 0; i < rows->size() && total_seats <= limits.max_total_seats; ++i) {
      auto row = read_row((*rows)[i], at(r.path("rows"), i), root, limits,
                          static_cast<std::int64_t>(i), total_seats);
      if (!row) {
        valid = false;
        continue;
      }
      if (!names.insert(row->name).second) {
        root.invalid_at(at(r.path("rows"), i) + ".name", "DUPLICATE_ROW",
                        "row " + row->name + " appears twice in this section");
        valid = false;
        continue;
      }
      section.rows.push_back(std::move(*row));
    }
  }
  r.finish();
  if (!valid) return std::nullopt;
  total_rows += section.rows.size();
  section.name = std::move(*name);
  section.code = std::move(*code);
  section.sort_order = sort;
  return section;
}

}  // namespace

bool is_valid_section_code(std::string_view code) noexcept {
  if (code.empty() || code.size() > 16) return false;
  for (char c : code) {
    if (!(is_alnum(c) || c == '_') || (c >= 'a' && c <= 'z')) return false;
  }
  return true;
}

bool is_valid_row_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > 16) return false;
  for (char c : name) {
    if (!(is_alnum(c) || c == '_')) return false;
  }
  return true;
}

std::string derive_section_code(std::string_view name) {
  std::string code;
  for (char c : name) {
    if (is_alnum(c)) code += upper(c);
    if (code.size() == 16) break;
  }
  return code;
}

std::string seat_code(std::string_view section_code, std::string_view row_name,
                      std::int64_t seat_number) {
  std::string out;
  out.reserve(section_code.size() + row_name.size() + 8);
  out += section_code;
  out += '-';
  out += row_name;
  out += '-';
  out += std::to_string(seat_number);
  return out;
}

Layout read_layout(core::ObjectReader& reader, std::string_view field, const LayoutLimits& limits) {
  Layout layout;
  const auto* sections = reader.array(field, true);
  if (sections == nullptr) return layout;
  if (sections->empty() || sections->size() > limits.max_sections) {
    reader.invalid(field, "INVALID_SECTION_COUNT",
                   "a layout needs 1 to " + std::to_string(limits.max_sections) + " sections");
    return layout;
  }
  std::unordered_set<std::string> codes;
  const auto base = reader.path(field);
  for (std::size_t i = 0; i < sections->size(); ++i) {
    // Stop early on absurd documents: counting seats is cheap, building them is not.
    if (layout.seat_count > limits.max_total_seats) break;
    auto section = read_section((*sections)[i], at(base, i), reader, limits, layout.seat_count,
                                layout.row_count);
    if (!section) continue;
    if (!codes.insert(section->code).second) {
      reader.invalid_at(at(base, i) + ".code", "DUPLICATE_SECTION_CODE",
                        "section code " + section->code + " is used twice; give distinct codes");
      continue;
    }
    layout.sections.push_back(std::move(*section));
  }
  if (layout.seat_count > limits.max_total_seats) {
    reader.invalid(field, "TOO_MANY_SEATS",
                   "a venue has at most " + std::to_string(limits.max_total_seats) + " seats");
  }
  return layout;
}

}  // namespace ticketd::venues
