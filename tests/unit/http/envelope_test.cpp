#include "http/envelope.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

namespace ticketd::http {
namespace {

Request make_request(std::string_view request_id_header = {}) {
  bhttp::request<bhttp::string_body> raw{bhttp::verb::get, "/x?a=1&q=hello+world%21", 11};
  if (!request_id_header.empty()) raw.set("X-Request-Id", request_id_header);
  Request req(std::move(raw.base()), "127.0.0.1");
  req.set_request_id("rid-1");
  return req;
}

TEST(Envelope, SuccessCarriesDataAndMeta) {
  auto req = make_request();
  auto res = ok(req, boost::json::object{{"a", 1}}, "Fine");
  auto v = boost::json::parse(res.body).as_object();
  EXPECT_EQ(v["success"], true);
  EXPECT_EQ(v["message"], "Fine");
  EXPECT_EQ(v["data"].as_object()["a"], 1);
  EXPECT_EQ(v["meta"].as_object()["requestId"], "rid-1");
  EXPECT_TRUE(v["meta"].as_object().contains("timestamp"));
  EXPECT_EQ(res.status, bhttp::status::ok);
  EXPECT_TRUE(res.etag.starts_with("W/\""));
}

TEST(Envelope, EtagDependsOnDataOnly) {
  auto req = make_request();
  auto a = ok(req, boost::json::object{{"a", 1}});
  auto b = ok(req, boost::json::object{{"a", 1}}, "Other message");
  auto c = ok(req, boost::json::object{{"a", 2}});
  EXPECT_EQ(a.etag, b.etag);
  EXPECT_NE(a.etag, c.etag);
}

TEST(Envelope, ListHasPaginationMeta) {
  auto req = make_request();
  boost::json::array items{1, 2};
  auto res = list(req, items, Page{2, 2, 5});
  auto v = boost::json::parse(res.body).as_object();
  EXPECT_TRUE(v["data"].is_array());
  auto meta = v["meta"].as_object();
  EXPECT_EQ(meta["page"], 2);
  EXPECT_EQ(meta["limit"], 2);
  EXPECT_EQ(meta["total"], 5);
  EXPECT_EQ(meta["hasNext"], true);
  auto last = boost::json::parse(list(req, items, Page{3, 2, 5}).body).as_object();
  EXPECT_EQ(last["meta"].as_object()["hasNext"], false);
}

TEST(Envelope, ErrorHasAtLeastOneEntryAndTheRightStatus) {
  auto res = error("rid", core::ApiError(core::ErrorKind::kConflict, "SEAT_UNAVAILABLE", "Taken"));
  EXPECT_EQ(res.status, bhttp::status::conflict);
  auto v = boost::json::parse(res.body).as_object();
  EXPECT_EQ(v["success"], false);
  ASSERT_EQ(v["errors"].as_array().size(), 1u);
  EXPECT_EQ(v["errors"].as_array()[0].as_object()["code"], "SEAT_UNAVAILABLE");
  EXPECT_EQ(v["meta"].as_object()["requestId"], "rid");
}

TEST(Envelope, FieldErrorsAndRetryAfter) {
  core::ApiError e(core::ErrorKind::kRateLimited, "RATE_LIMITED", "Slow down",
                   {{"RATE_LIMITED", "ip", "too many"}});
  e.with_retry_after(7);
  auto res = error("rid", e);
  EXPECT_EQ(res.status, bhttp::status::too_many_requests);
  ASSERT_EQ(res.headers.size(), 1u);
  EXPECT_EQ(res.headers[0].first, "Retry-After");
  EXPECT_EQ(res.headers[0].second, "7");
  auto v = boost::json::parse(res.body).as_object();
  EXPECT_EQ(v["errors"].as_array()[0].as_object()["field"], "ip");
}

TEST(Envelope, InternalErrorsLeakNothing) {
  auto res = error("rid", core::ApiError(core::ErrorKind::kInternal, "X", "secret detail",
                                         {{"X", "f", "secret detail"}}));
  EXPECT_EQ(res.status, bhttp::status::internal_server_error);
  EXPECT_EQ(res.body.find("secret"), std::string::npos);
}

TEST(Envelope, EveryKindMapsToItsStatus) {
  using core::ErrorKind;
  EXPECT_EQ(status_for(ErrorKind::kInvalid), bhttp::status::bad_request);
  EXPECT_EQ(status_for(ErrorKind::kUnauthenticated), bhttp::status::unauthorized);
  EXPECT_EQ(status_for(ErrorKind::kForbidden), bhttp::status::forbidden);
  EXPECT_EQ(status_for(ErrorKind::kNotFound), bhttp::status::not_found);
  EXPECT_EQ(status_for(ErrorKind::kUnprocessable), bhttp::status::unprocessable_entity);
  EXPECT_EQ(status_for(ErrorKind::kTooLarge), bhttp::status::payload_too_large);
  EXPECT_EQ(status_for(ErrorKind::kUnsupportedMediaType), bhttp::status::unsupported_media_type);
  EXPECT_EQ(status_for(ErrorKind::kUnavailable), bhttp::status::service_unavailable);
}

TEST(RequestId, AcceptsVisibleAsciiUpTo128) {
  EXPECT_TRUE(is_acceptable_request_id("abc-123"));
  EXPECT_TRUE(is_acceptable_request_id(std::string(128, 'a')));
  EXPECT_FALSE(is_acceptable_request_id(""));
  EXPECT_FALSE(is_acceptable_request_id(std::string(129, 'a')));
  EXPECT_FALSE(is_acceptable_request_id("has space"));
  EXPECT_FALSE(is_acceptable_request_id("tab\there"));
  EXPECT_FALSE(is_acceptable_request_id("caf\xc3\xa9"));
}

TEST(Request, SplitsPathAndDecodesQuery) {
  auto req = make_request();
  EXPECT_EQ(req.path(), "/x");
  EXPECT_EQ(req.query_param("q"), "hello world!");
  EXPECT_EQ(req.query_param("a"), "1");
  EXPECT_FALSE(req.query_param("missing").has_value());
}

TEST(Request, JsonBodyRules) {
  auto make = [](std::string body, std::string_view ct) {
    bhttp::request<bhttp::string_body> raw{bhttp::verb::post, "/x", 11};
    if (!ct.empty()) raw.set(bhttp::field::content_type, ct);
    raw.body() = std::move(body);
    return Request(std::move(raw.base()), "127.0.0.1", std::move(raw.body()));
  };
  auto expect_kind = [](Request r, core::ErrorKind kind) {
    try {
      r.json();
      ADD_FAILURE() << "expected an error";
    } catch (const core::ApiError& e) {
      EXPECT_EQ(e.kind(), kind);
    }
  };
  expect_kind(make("{}", "text/plain"), core::ErrorKind::kUnsupportedMediaType);
  expect_kind(make("{\"a\":", "application/json"), core::ErrorKind::kInvalid);
  expect_kind(make("{} trailing", "application/json"), core::ErrorKind::kInvalid);
  expect_kind(make("", "application/json"), core::ErrorKind::kInvalid);
  expect_kind(make(std::string(100, '[') + std::string(100, ']'), "application/json"),
              core::ErrorKind::kInvalid);
  auto good = make("{\"a\":1}", "application/json; charset=utf-8");
  EXPECT_EQ(good.json().as_object().at("a"), 1);
  auto vendor = make("[1]", "application/merge-patch+json");
  EXPECT_TRUE(vendor.json().is_array());
}

TEST(Request, ConnectionCloseWinsOverKeepAlive) {
  auto make = [](unsigned version, std::string_view connection) {
    bhttp::request<bhttp::string_body> raw{bhttp::verb::get, "/x", version};
    if (!connection.empty()) raw.set(bhttp::field::connection, connection);
    return Request(std::move(raw.base()), "127.0.0.1");
  };
  EXPECT_TRUE(make(11, "").keep_alive());
  EXPECT_FALSE(make(11, "close").keep_alive());
  EXPECT_FALSE(make(11, "close, keep-alive").keep_alive());
  EXPECT_FALSE(make(11, "keep-alive, Close").keep_alive());
  EXPECT_FALSE(make(10, "").keep_alive());
  EXPECT_TRUE(make(10, "Keep-Alive").keep_alive());
}

}  // namespace
}  // namespace ticketd::http
