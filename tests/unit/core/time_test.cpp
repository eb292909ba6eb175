#include "core/time.hpp"

#include <gtest/gtest.h>

namespace ticketd::core {
namespace {

std::string normalized(std::string_view s) {
  auto t = parse_iso8601(s);
  return t ? iso8601(*t) : std::string("invalid");
}

TEST(ParseIso8601, AcceptsZonesAndFractions) {
  EXPECT_EQ(normalized("2031-05-01T19:00:00Z"), "2031-05-01T19:00:00.000Z");
  EXPECT_EQ(normalized("2031-05-01T19:00Z"), "2031-05-01T19:00:00.000Z");
  EXPECT_EQ(normalized("2031-05-01T21:00:00+02:00"), "2031-05-01T19:00:00.000Z");
  EXPECT_EQ(normalized("2031-05-01T14:30:00-0430"), "2031-05-01T19:00:00.000Z");
  EXPECT_EQ(normalized("2031-05-01T19:00:00.5Z"), "2031-05-01T19:00:00.500Z");
  EXPECT_EQ(normalized("2031-05-01T19:00:00.123456789Z"), "2031-05-01T19:00:00.123Z");
  EXPECT_EQ(normalized("2031-05-02T00:30:00+01:00"), "2031-05-01T23:30:00.000Z");
  EXPECT_EQ(normalized("2031-05-01T19:00:00+15:59"), "2031-05-01T03:01:00.000Z");  // the widest
}

// Found by schemathesis: a year past 2262 overflowed system_clock's nanoseconds on the way to the
// wire format (UBSan stopped the server on `startsAt: "3209-..."`).
TEST(ParseIso8601, KeepsEveryYearUpTo9999) {
  EXPECT_EQ(normalized("3209-01-01T00:00:00Z"), "3209-01-01T00:00:00.000Z");
  EXPECT_EQ(normalized("9999-12-31T23:59:59.999Z"), "9999-12-31T23:59:59.999Z");
  EXPECT_EQ(normalized("1970-01-01T00:00:00+01:00"), "1969-12-31T23:00:00.000Z");
}

TEST(ParseIso8601, RejectsWhatIsNotAnInstant) {
  for (const char* bad :
       {"", "2031-05-01", "2031-05-01T19:00:00", "2031-02-30T10:00:00Z", "2031-13-01T10:00:00Z",
        "2031-05-01T24:00:00Z", "2031-05-01T19:60:00Z", "1969-12-31T23:59:59Z",
        "2031-05-01T19:00:00.Z", "2031-05-01T19:00:00Zjunk", "tomorrow", "2031-5-1T19:00:00Z",
        "2031-05-01T19:00:00+25:00",
        // Found by schemathesis: PostgreSQL refuses offsets past ±15:59, so these reached the
        // database and came back as a dependency failure instead of a 422.
        "2030-01-01T00:00:00-18:56", "2030-01-01T00:00:00+16:00"}) {
    EXPECT_FALSE(parse_iso8601(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace ticketd::core
