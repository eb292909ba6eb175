// infra/redis option parsing and reconnect backoff: pure functions, no Redis needed.
#include "infra/redis/options.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace ticketd::infra::redis {
namespace {

using namespace std::chrono_literals;

// The message of the invalid_argument that parse_url throws for `url` ("" if it does not throw).
std::string parse_error(const std::string& url) {
  try {
    parse_url(url);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

TEST(RedisOptions, ParsesHostOnlyWithDefaults) {
  const Options o = parse_url("redis://cache.internal");
  EXPECT_EQ(o.host, "cache.internal");
  EXPECT_EQ(o.port, 6379);
  EXPECT_EQ(o.db, 0);
  EXPECT_TRUE(o.username.empty());
  EXPECT_TRUE(o.password.empty());
  EXPECT_EQ(o.connect_timeout, 1000ms);
  EXPECT_EQ(o.command_timeout, 1000ms);
  EXPECT_EQ(o.reconnect_min, 100ms);
  EXPECT_EQ(o.reconnect_max, 5000ms);
}

TEST(RedisOptions, ParsesEveryPart) {
  const Options o = parse_url("redis://app:s%40cr%2Ft@10.0.0.5:6380/3");
  EXPECT_EQ(o.username, "app");
  EXPECT_EQ(o.password, "s@cr/t");
  EXPECT_EQ(o.host, "10.0.0.5");
  EXPECT_EQ(o.port, 6380);
  EXPECT_EQ(o.db, 3);
}

TEST(RedisOptions, PasswordWithoutUser) {
  const Options o = parse_url("redis://:pw@localhost:7000");
  EXPECT_TRUE(o.username.empty());
  EXPECT_EQ(o.password, "pw");
  EXPECT_EQ(o.host, "localhost");
  EXPECT_EQ(o.port, 7000);
  // The old redis-py form, a lone userinfo field, is the password too.
  EXPECT_EQ(parse_url("redis://pw@localhost").password, "pw");
}

TEST(RedisOptions, UnescapedAtAndSlashInThePasswordStillParse) {
  const Options o = parse_url("redis://:p@ss/word@127.0.0.1:6390/1");
  EXPECT_EQ(o.password, "p@ss/word");
  EXPECT_EQ(o.host, "127.0.0.1");
  EXPECT_EQ(o.port, 6390);
  EXPECT_EQ(o.db, 1);
}

TEST(RedisOptions, Ipv6HostsAndEmptyPath) {
  const Options o = parse_url("redis://[::1]:6390/");
  EXPECT_EQ(o.host, "::1");
  EXPECT_EQ(o.port, 6390);
  EXPECT_EQ(o.db, 0);
  EXPECT_EQ(parse_url("redis://[fe80::1]").port, 6379);
  EXPECT_EQ(describe(o), "[::1]:6390/0");
}

TEST(RedisOptions, SchemeIsCaseInsensitive) {
  EXPECT_EQ(parse_url("REDIS://h").host, "h");
}

TEST(RedisOptions, RejectsMalformedUrls) {
  for (const std::string url :
       {"", "http://h", "rediss://h", "redis://", "redis://:pw@", "redis://h:", "redis://h:0",
        "redis://h:65536", "redis://h:12ab", "redis://h/x", "redis://h/-1", "redis://h/1?x=1",
        "redis://[::1", "redis://[::1]x", "redis://:bad%zz@h", "redis://:bad%4@h"}) {
    EXPECT_FALSE(parse_error(url).empty()) << url;
  }
}

TEST(RedisOptions, ErrorsNeverContainThePassword) {
  // Each is malformed somewhere other than the password; the password must not leak anyway.
  for (const std::string url :
       {"redis://:hunter2secret@h:port", "redis://user:hunter2secret@/0",
        "redis://:hunter2secret@h/db", "rediss://:hunter2secret@h", "redis://:hunter2secret%zz@h",
        // A forgotten host makes the password look like a port.
        "redis://user:hunter2secret"}) {
    const std::string message = parse_error(url);
    EXPECT_FALSE(message.empty()) << url;
    EXPECT_EQ(message.find("hunter2"), std::string::npos) << message;
  }
}

TEST(RedisOptions, DescribeNeverShowsCredentials) {
  const Options o = parse_url("redis://app:hunter2@h:1/2");
  EXPECT_EQ(describe(o), "h:1/2");
}

TEST(RedisOptions, ValidateChecksRanges) {
  Options o;
  EXPECT_NO_THROW(validate(o));
  o.reconnect_max = 50ms;  // below reconnect_min
  EXPECT_THROW(validate(o), std::invalid_argument);
  o = Options{};
  o.command_timeout = 0ms;
  EXPECT_THROW(validate(o), std::invalid_argument);
  o = Options{};
  o.port = 0;
  EXPECT_THROW(validate(o), std::invalid_argument);
}

TEST(RedisBackoff, DoublesFromTheMinimumAndCapsAtTheMaximum) {
  Options o;
  o.reconnect_min = 100ms;
  o.reconnect_max = 5000ms;
  // jitter 1.0 is the full delay.
  EXPECT_EQ(reconnect_delay(o, 0, 1.0), 100ms);
  EXPECT_EQ(reconnect_delay(o, 1, 1.0), 200ms);
  EXPECT_EQ(reconnect_delay(o, 5, 1.0), 3200ms);
  EXPECT_EQ(reconnect_delay(o, 6, 1.0), 5000ms);
  EXPECT_EQ(reconnect_delay(o, 1000, 1.0), 5000ms);  // no overflow
}

TEST(RedisBackoff, JitterSpreadsDelaysOverTheUpperHalf) {
  Options o;
  EXPECT_EQ(reconnect_delay(o, 0, 0.0), 50ms);
  EXPECT_EQ(reconnect_delay(o, 0, 0.5), 75ms);
  EXPECT_EQ(reconnect_delay(o, 10, 0.0), 2500ms);
  // Out-of-range jitter is clamped.
  EXPECT_EQ(reconnect_delay(o, 0, -3.0), 50ms);
  EXPECT_EQ(reconnect_delay(o, 0, 7.0), 100ms);
}

}  // namespace
}  // namespace ticketd::infra::redis
