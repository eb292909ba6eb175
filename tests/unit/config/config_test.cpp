#include "config/config.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace ticketd::config {
namespace {

bool mentions(const std::vector<std::string>& errors, std::string_view what) {
  return std::any_of(errors.begin(), errors.end(),
                     [&](const std::string& e) { return e.find(what) != std::string::npos; });
}

TEST(Config, DefaultsAreValidInDevelopment) {
  const auto r = load({}, {});
  EXPECT_TRUE(r.errors.empty());
  EXPECT_EQ(r.config.port, 3000);
  EXPECT_EQ(r.config.api_base(), "/api/v1");
  EXPECT_EQ(r.config.http_body_limit_bytes, 1u << 20);
  EXPECT_FALSE(r.warnings.empty()) << "a missing JWT_SECRET is worth a warning in development";
}

TEST(Config, EnvironmentOverridesDotenvWhichOverridesDefaults) {
  const auto r = load({{"PORT", "3100"}}, {{"PORT", "3200"}, {"API_VERSION", "v2"}});
  ASSERT_TRUE(r.errors.empty());
  EXPECT_EQ(r.config.port, 3100);
  EXPECT_EQ(r.config.api_version, "v2");
  EXPECT_EQ(r.config.api_base(), "/api/v2");
}

TEST(Config, ListsEveryProblemAtOnce) {
  const auto r = load({{"PORT", "70000"},
                       {"DATABASE_URL", "mysql://x"},
                       {"DATABASE_POOL_SIZE", "zero"},
                       {"NODE_ENV", "staging"},
                       {"JWT_EXPIRES_IN", "soon"}},
                      {});
  EXPECT_EQ(r.errors.size(), 5u);
  EXPECT_TRUE(mentions(r.errors, "PORT"));
  EXPECT_TRUE(mentions(r.errors, "DATABASE_URL"));
  EXPECT_TRUE(mentions(r.errors, "DATABASE_POOL_SIZE"));
  EXPECT_TRUE(mentions(r.errors, "NODE_ENV"));
  EXPECT_TRUE(mentions(r.errors, "JWT_EXPIRES_IN"));
}

TEST(Config, LiveSeatMapSettings) {
  const auto d = load({}, {}).config;
  EXPECT_EQ(d.sse_heartbeat, std::chrono::seconds(15));
  EXPECT_EQ(d.sse_client_queue_max, 256);
  EXPECT_EQ(d.sse_max_streams, 10'000);
  EXPECT_EQ(d.sse_max_streams_per_ip, 20);
  const auto r = load({{"SSE_HEARTBEAT_SECONDS", "0.25"},
                       {"SSE_CLIENT_QUEUE_MAX", "8"},
                       {"SSE_MAX_STREAMS", "50"},
                       {"SSE_MAX_STREAMS_PER_IP", "2"},
                       {"SSE_WRITE_TIMEOUT_MS", "500"}},
                      {});
  ASSERT_TRUE(r.errors.empty());
  EXPECT_EQ(r.config.sse_heartbeat, std::chrono::milliseconds(250));
  EXPECT_EQ(r.config.sse_client_queue_max, 8);
  EXPECT_EQ(r.config.sse_max_streams, 50);
  EXPECT_EQ(r.config.sse_max_streams_per_ip, 2);
  EXPECT_EQ(r.config.sse_write_timeout, std::chrono::milliseconds(500));
  const auto bad = load({{"SSE_HEARTBEAT_SECONDS", "0"},
                         {"SSE_CLIENT_QUEUE_MAX", "0"},
                         {"SSE_MAX_STREAMS", "lots"},
                         {"SSE_MAX_STREAMS_PER_IP", "-1"}},
                        {});
  EXPECT_EQ(bad.errors.size(), 4u);
  EXPECT_TRUE(mentions(bad.errors, "SSE_HEARTBEAT_SECONDS"));
  EXPECT_TRUE(mentions(bad.errors, "SSE_MAX_STREAMS_PER_IP"));
}

TEST(Config, ErrorsNeverEchoSecrets) {
  const auto r = load({{"DATABASE_URL", "mysql://user:hunter2@db/x"}}, {});
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].find("hunter2"), std::string::npos);
}

TEST(Config, ProductionRequiresSecrets) {
  const auto r = load({{"NODE_ENV", "production"}}, {});
  EXPECT_TRUE(mentions(r.errors, "JWT_SECRET"));
  EXPECT_TRUE(mentions(r.errors, "PAYMENT_WEBHOOK_SECRET"));
  const auto ok = load({{"NODE_ENV", "production"},
                        {"JWT_SECRET", std::string(40, 'x')},
                        {"PAYMENT_WEBHOOK_SECRET", "whsec"}},
                       {});
  EXPECT_TRUE(ok.errors.empty());
}

TEST(Config, JwtExpiryForms) {
  for (const char* v : {"900", "15m", "1h", "1d", "30s"}) {
    EXPECT_TRUE(load({{"JWT_EXPIRES_IN", v}}, {}).errors.empty()) << v;
  }
  for (const char* v : {"0", "-5m", "m", "1w", "1.5h"}) {
    EXPECT_FALSE(load({{"JWT_EXPIRES_IN", v}}, {}).errors.empty()) << v;
  }
}

TEST(Dotenv, ParsesCommentsQuotesAndExport) {
  std::vector<std::string> errors;
  const auto env = parse_dotenv(
      "# comment\n\nPORT=3001\nexport API_PREFIX=api\nJWT_SECRET=\"with # hash\"\n"
      "LOG_LEVEL=debug # trailing\nnot a line\n",
      errors);
  EXPECT_EQ(env.at("PORT"), "3001");
  EXPECT_EQ(env.at("API_PREFIX"), "api");
  EXPECT_EQ(env.at("JWT_SECRET"), "with # hash");
  EXPECT_EQ(env.at("LOG_LEVEL"), "debug");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("line 7"), std::string::npos);
}

}  // namespace
}  // namespace ticketd::config
