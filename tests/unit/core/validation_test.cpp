#include "core/validation.hpp"

#include <gtest/gtest.h>

#include "core/json.hpp"

namespace ticketd::core {
namespace {

ApiError failure(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const ApiError& e) {
    return e;
  }
  ADD_FAILURE() << "no ApiError";
  return ApiError(ErrorKind::kInternal, "NONE", "none");
}

TEST(ObjectReader, NestedReadersReportPathsIntoTheRoot) {
  auto body = json::parse(R"({"name":"x","items":[{"n":1,"extra":true},{"n":"two"}]})");
  auto err = failure([&] {
    ObjectReader root(body);
    root.string("name", true);
    const auto* items = root.array("items", true);
    for (std::size_t i = 0; i < items->size(); ++i) {
      ObjectReader item((*items)[i], "items[" + std::to_string(i) + "]", root);
      item.integer("n", true);
      item.finish();
    }
    root.finish();
  });
  // A wrong type anywhere makes the whole body a 400, naming the nested path.
  EXPECT_EQ(err.kind(), ErrorKind::kInvalid);
  ASSERT_EQ(err.details().size(), 1u);
  EXPECT_EQ(err.details()[0].field, "items[1].n");
}

TEST(ObjectReader, UnknownNestedFieldsAre422WithTheirPath) {
  auto body = json::parse(R"({"items":[{"n":1,"extra":true}]})");
  auto err = failure([&] {
    ObjectReader root(body);
    const auto* items = root.array("items", true);
    ObjectReader item((*items)[0], "items[0]", root);
    item.integer("n", true);
    item.finish();
    root.finish();
  });
  EXPECT_EQ(err.kind(), ErrorKind::kUnprocessable);
  ASSERT_EQ(err.details().size(), 1u);
  EXPECT_EQ(err.details()[0].code, "UNKNOWN_FIELD");
  EXPECT_EQ(err.details()[0].field, "items[0].extra");
}

TEST(ObjectReader, NullableFieldsDistinguishAbsentNullAndValue) {
  auto body = json::parse(R"({"a":null,"b":"v","c":7,"d":null})");
  ObjectReader r(body);
  auto a = r.nullable_string("a");
  auto b = r.nullable_string("b");
  auto missing = r.nullable_string("missing");
  auto c = r.nullable_integer("c");
  auto d = r.nullable_integer("d");
  r.finish();
  ASSERT_TRUE(a.has_value());
  EXPECT_FALSE(a->has_value());
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(**b, "v");
  EXPECT_FALSE(missing.has_value());
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(**c, 7);
  ASSERT_TRUE(d.has_value());
  EXPECT_FALSE(d->has_value());
}

TEST(ObjectReader, ErrorListsAreBounded) {
  boost::json::object o;
  for (int i = 0; i < 500; ++i) o["f" + std::to_string(i)] = i;
  boost::json::value body(std::move(o));
  auto err = failure([&] {
    ObjectReader r(body);
    r.finish();
  });
  EXPECT_EQ(err.details().size(), 100u);
}

TEST(AppendQuoted, EscapesWhatJsonRequires) {
  std::string out;
  json::append_quoted(out, std::string_view("a\"b\\c\n\x01\xc3\xa9", 9));
  EXPECT_EQ(out, R"("a\"b\\c\n\u0001é")");
  EXPECT_EQ(json::parse(out).as_string(), std::string_view("a\"b\\c\n\x01\xc3\xa9", 9));
}

TEST(ObjectReader, ControlCharactersAreRefusedNotTruncated) {
  // "A\u0000x" used to pass validation and be stored as "A" (libpq stops at the NUL).
  auto body = json::parse(R"({"name":"A\u0000x","bell":"\u0007","del":"a\u007f","c1":"\u0085",)"
                          R"("tab":"a\tb","ok":"Zoë ✓"})");
  auto err = failure([&] {
    ObjectReader r(body);
    r.string("name", true);
    r.string("bell", true);
    r.string("del", true);
    r.string("c1", true);
    r.string("tab", true);
    EXPECT_EQ(r.string("ok", true), "Zoë ✓");
    r.finish();
  });
  EXPECT_EQ(err.kind(), ErrorKind::kUnprocessable);
  std::vector<std::string> fields;
  for (const auto& d : err.details()) {
    EXPECT_EQ(d.code, "INVALID_CHARACTERS");
    fields.push_back(d.field);
  }
  EXPECT_EQ(fields, (std::vector<std::string>{"name", "bell", "del", "c1", "tab"}));
}

TEST(ObjectReader, FreeTextMayHoldTabsAndLineBreaksButNoOtherControls) {
  auto body = json::parse(R"({"description":"line 1\r\nline 2\tend","bad":"x\u0000"})");
  ObjectReader r(body);
  EXPECT_EQ(r.string("description", true, Chars::kText), "line 1\r\nline 2\tend");
  EXPECT_TRUE(r.nullable_string("bad", Chars::kText).has_value());  // recorded, not dropped
  EXPECT_EQ(r.value_error_count(), 1u);
  EXPECT_EQ(find_control_character("ok", Chars::kLine), std::string_view::npos);
  EXPECT_EQ(find_control_character(std::string_view("a\0", 2), Chars::kText), 1u);
}

// Found by schemathesis: lengths were counted in bytes, so a 32-character label of accented letters
// or emoji, valid by the document's maxLength, was refused as INVALID_LABEL.
TEST(ObjectReader, LengthsCountCharactersNotBytes) {
  EXPECT_EQ(code_points("abc"), 3u);
  EXPECT_EQ(code_points("\u00e9t\u00e9 \U0001F3AB"), 5u);  // 2-byte and 4-byte sequences
  auto body = json::parse(R"({"label":"\u00e9\u00e9\u00e9\u00e9","name":"abcd"})");
  ObjectReader r(body);
  r.length("label", r.string("label", true), 1, 4, "INVALID_LABEL");
  EXPECT_EQ(r.value_error_count(), 0u);
  r.length("name", r.string("name", true), 1, 3);
  r.length("absent", std::nullopt, 1, 3);
  auto err = failure([&] { r.finish(); });
  ASSERT_EQ(err.details().size(), 1u);
  EXPECT_EQ(err.details()[0].code, "INVALID_LENGTH");
  EXPECT_EQ(err.details()[0].field, "name");
}

}  // namespace
}  // namespace ticketd::core
