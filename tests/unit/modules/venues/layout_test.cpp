#include "modules/venues/layout.hpp"

#include <gtest/gtest.h>

#include "core/json.hpp"
#include "infra/pg/array.hpp"

namespace ticketd::venues {
namespace {

Layout parse(std::string_view text, const LayoutLimits& limits = {}) {
  auto body = core::json::parse(text);
  core::ObjectReader r(body);
  auto layout = read_layout(r, "sections", limits);
  r.finish();
  return layout;
}

std::vector<core::FieldError> problems(std::string_view text, const LayoutLimits& limits = {}) {
  try {
    parse(text, limits);
  } catch (const core::ApiError& e) {
    return e.details();
  }
  return {};
}

bool has(const std::vector<core::FieldError>& errs, std::string_view code, std::string_view field) {
  for (const auto& e : errs) {
    if (e.code == code && e.field == field) return true;
  }
  return false;
}

TEST(Layout, CountsAndExplicitSeats) {
  auto l = parse(R"({"sections":[
    {"name":"Stalls","rows":[{"name":"A","seatCount":3},
                             {"name":"B","seats":[{"seatNumber":10,"label":"B10","x":1.5,"y":-2},
                                                  {"seatNumber":2}]}]},
    {"name":"Upper Tier 2!","code":"up","sortOrder":7,"rows":[{"name":"1","seatCount":1}]}]})");
  ASSERT_EQ(l.sections.size(), 2u);
  EXPECT_EQ(l.row_count, 3u);
  EXPECT_EQ(l.seat_count, 6u);
  EXPECT_EQ(l.sections[0].code, "STALLS");
  EXPECT_FALSE(l.sections[0].sort_order.has_value());
  EXPECT_EQ(l.sections[1].code, "UP");
  EXPECT_EQ(l.sections[1].sort_order, 7);
  EXPECT_EQ(l.sections[0].rows[0].seats[2].number, 3);
  EXPECT_EQ(l.sections[0].rows[1].sort_order, 1);
  const auto& b10 = l.sections[0].rows[1].seats[0];
  EXPECT_EQ(b10.label, "B10");
  EXPECT_EQ(b10.x, 1.5);
  EXPECT_EQ(b10.y, -2.0);
  EXPECT_EQ(seat_code("STALLS", "B", 10), "STALLS-B-10");
}

TEST(Layout, DerivedCodes) {
  EXPECT_EQ(derive_section_code("Upper Tier 2!"), "UPPERTIER2");
  EXPECT_EQ(derive_section_code("A very long section name indeed"), "AVERYLONGSECTION");
  EXPECT_EQ(derive_section_code("!!!"), "");
  EXPECT_TRUE(is_valid_row_name("AA_1"));
  EXPECT_FALSE(is_valid_row_name("A-1"));  // '-' separates the parts of a seat code
  EXPECT_FALSE(is_valid_section_code("a"));
}

TEST(Layout, DuplicatesAreReportedWhereTheyAre) {
  auto errs = problems(R"({"sections":[
    {"name":"A","rows":[{"name":"1","seatCount":2},{"name":"1","seatCount":2}]},
    {"name":"a","rows":[{"name":"2","seats":[{"seatNumber":4},{"seatNumber":4}]}]}]})");
  EXPECT_TRUE(has(errs, "DUPLICATE_ROW", "sections[0].rows[1].name"));
  EXPECT_TRUE(has(errs, "DUPLICATE_SEAT", "sections[1].rows[0].seats[1].seatNumber"));
}

TEST(Layout, DuplicateSectionCodes) {
  auto errs = problems(R"({"sections":[
    {"name":"Floor","rows":[{"name":"1","seatCount":1}]},
    {"name":"floor","rows":[{"name":"1","seatCount":1}]}]})");
  EXPECT_TRUE(has(errs, "DUPLICATE_SECTION_CODE", "sections[1].code"));
}

TEST(Layout, RowsNeedExactlyOneSeatSource) {
  auto both = problems(
      R"({"sections":[{"name":"A","rows":[{"name":"1","seatCount":1,"seats":[{"seatNumber":1}]}]}]})");
  EXPECT_TRUE(has(both, "SEATS_AMBIGUOUS", "sections[0].rows[0].seatCount"));
  auto neither = problems(R"({"sections":[{"name":"A","rows":[{"name":"1"}]}]})");
  EXPECT_TRUE(has(neither, "SEATS_REQUIRED", "sections[0].rows[0].seatCount"));
  auto null_seats = problems(R"({"sections":[{"name":"A","rows":[{"name":"1","seats":null}]}]})");
  EXPECT_TRUE(has(null_seats, "SEATS_REQUIRED", "sections[0].rows[0].seatCount"));
}

TEST(Layout, EmptyAndAbsurdSizes) {
  EXPECT_TRUE(has(problems(R"({"sections":[]})"), "INVALID_SECTION_COUNT", "sections"));
  EXPECT_TRUE(has(problems(R"({"sections":[{"name":"A","rows":[]}]})"), "INVALID_ROW_COUNT",
                  "sections[0].rows"));
  EXPECT_TRUE(
      has(problems(R"({"sections":[{"name":"A","rows":[{"name":"1","seatCount":100000}]}]})"),
          "INVALID_SEAT_COUNT", "sections[0].rows[0].seatCount"));
  LayoutLimits small;
  small.max_total_seats = 5;
  EXPECT_TRUE(has(problems(R"({"sections":[{"name":"A","rows":[{"name":"1","seatCount":3},
                                                                {"name":"2","seatCount":3}]}]})",
                           small),
                  "TOO_MANY_SEATS", "sections"));
}

TEST(Layout, WrongTypesAre400) {
  try {
    parse(R"({"sections":[{"name":"A","rows":[{"name":1,"seatCount":"3"}]}]})");
    FAIL() << "accepted";
  } catch (const core::ApiError& e) {
    EXPECT_EQ(e.kind(), core::ErrorKind::kInvalid);
    EXPECT_TRUE(has(e.details(), "INVALID_TYPE", "sections[0].rows[0].name"));
    EXPECT_TRUE(has(e.details(), "INVALID_TYPE", "sections[0].rows[0].seatCount"));
  }
}

TEST(ArrayLiteral, QuotesEscapesAndNulls) {
  infra::pg::ArrayLiteral a;
  a.add(std::string_view("plain")).add(std::string_view("q\"b\\s,{}")).add_null();
  a.add(std::optional<std::string>{}).add(std::int64_t{-7}).add(2.5);
  EXPECT_EQ(std::move(a).str(), R"({"plain","q\"b\\s,{}",NULL,NULL,-7,2.5})");
  EXPECT_EQ(infra::pg::ArrayLiteral().str(), "{}");
}

}  // namespace
}  // namespace ticketd::venues
