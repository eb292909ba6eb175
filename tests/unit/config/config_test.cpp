#include "config/config.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace ticketd::config {
namespace {

bool mentions(const std::vector<std::string>& errors, std::string_view what) {
  return std::any_of(errors.begin(), errors.end(),
                     [&](const std::string& e) { return e.find(what) != std::string::npos; });
}

TEST(Config, DefaultsToProductionWhichNeedsItsSecrets) {
  const auto r = load({}, {});
  EXPECT_TRUE(r.errors.empty());
  EXPECT_TRUE(r.config.is_production());
  EXPECT_FALSE(r.config.payment_simulator_enabled());
  EXPECT_TRUE(mentions(r.missing_secrets, "JWT_SECRET"));
  EXPECT_TRUE(mentions(r.missing_secrets, "TICKET_SIGNING_SECRET"));
  EXPECT_TRUE(mentions(r.missing_secrets, "PAYMENT_WEBHOOK_SECRET"));
  EXPECT_TRUE(mentions(r.missing_secrets, "NODE_ENV=production"));
}

TEST(Config, OnlyAnExplicitDevelopmentRelaxesIt) {
  const auto r = load({{"NODE_ENV", "development"}}, {});
  EXPECT_TRUE(r.errors.empty());
  EXPECT_TRUE(r.missing_secrets.empty());
  EXPECT_TRUE(r.config.payment_simulator_enabled());
  // "test" is as strict as production about secrets, and keeps the simulator off by default.
  const auto t = load({{"NODE_ENV", "test"}}, {});
  EXPECT_EQ(t.missing_secrets.size(), 3u);
  EXPECT_FALSE(t.config.payment_simulator_enabled());
}

TEST(Config, DefaultsAreValidInDevelopment) {
  const auto r = load({{"NODE_ENV", "development"}}, {});
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

TEST(Config, TrustedProxiesAreParsedAndCheckedAtLoad) {
  EXPECT_TRUE(load({}, {}).config.trusted_proxies.empty());
  const auto ok = load({{"TRUSTED_PROXIES", "10.0.0.0/8, ::1"}}, {});
  ASSERT_TRUE(ok.errors.empty());
  EXPECT_TRUE(ok.config.trusted_proxies.contains("10.4.5.6"));
  EXPECT_TRUE(ok.config.trusted_proxies.contains("::1"));
  const auto bad = load({{"TRUSTED_PROXIES", "10.0.0.0/8, the-lb"}}, {});
  ASSERT_EQ(bad.errors.size(), 1u);
  EXPECT_TRUE(mentions(bad.errors, "TRUSTED_PROXIES"));
}

TEST(Config, RateLimitsSheddingAndTheHotPoolWait) {
  const auto d = load({}, {}).config;
  EXPECT_TRUE(d.rate_limit_enabled) << "limits are on unless switched off";
  EXPECT_EQ(d.rate_limit_auth_ip.count, 30);
  EXPECT_EQ(d.rate_limit_auth_ip.period, std::chrono::minutes(1));
  EXPECT_EQ(d.http_max_in_flight_reserve, 128);
  EXPECT_EQ(d.http_max_in_flight_queue, 256);
  EXPECT_EQ(d.db_pool_hot_timeout, std::chrono::milliseconds(50));
  EXPECT_EQ(d.queue_admission_ttl_seconds, 600);
  EXPECT_EQ(load({{"QUEUE_ADMISSION_TTL_SECONDS", "5"}}, {}).errors.size(), 1u) << "at least 10 s";
  const auto r = load({{"RATE_LIMIT_ENABLED", "false"},
                       {"RATE_LIMIT_RESERVE_USER", "5/10s"},
                       {"RATE_LIMIT_API_IP", "off"},
                       {"HTTP_MAX_IN_FLIGHT_RESERVE", "0"},
                       {"HTTP_MAX_IN_FLIGHT_QUEUE", "32"},
                       {"DATABASE_POOL_HOT_TIMEOUT_MS", "20"},
                       {"SSE_MAX_STREAMS_PER_USER", "2"}},
                      {});
  ASSERT_TRUE(r.errors.empty());
  EXPECT_FALSE(r.config.rate_limit_enabled);
  EXPECT_EQ(r.config.rate_limit_reserve_user.count, 5);
  EXPECT_EQ(r.config.rate_limit_reserve_user.period, std::chrono::seconds(10));
  EXPECT_TRUE(r.config.rate_limit_api_ip.off());
  EXPECT_EQ(r.config.http_max_in_flight_reserve, 0);
  EXPECT_EQ(r.config.http_max_in_flight_queue, 32);
  EXPECT_EQ(r.config.db_pool_hot_timeout, std::chrono::milliseconds(20));
  EXPECT_EQ(r.config.sse_max_streams_per_user, 2);
  const auto bad = load({{"RATE_LIMIT_AUTH_IP", "30 per minute"},
                         {"RATE_LIMIT_WEBHOOK_IP", "0/1m"},
                         {"HTTP_MAX_IN_FLIGHT_AUTH", "-1"}},
                        {});
  EXPECT_EQ(bad.errors.size(), 3u);
  EXPECT_TRUE(mentions(bad.errors, "RATE_LIMIT_AUTH_IP"));
  EXPECT_TRUE(mentions(bad.errors, "RATE_LIMIT_WEBHOOK_IP"));
  EXPECT_TRUE(mentions(bad.errors, "HTTP_MAX_IN_FLIGHT_AUTH"));
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

TEST(Config, ReservationBatchSettings) {
  const auto d = load({}, {}).config;
  EXPECT_EQ(d.reserve_batch_max, 64u);
  EXPECT_EQ(d.reserve_batch_concurrency, 2u);
  EXPECT_EQ(d.reserve_batch_window, std::chrono::microseconds(2'000));
  const auto r = load({{"RESERVE_BATCH_MAX", "1"},
                       {"RESERVE_BATCH_CONCURRENCY", "4"},
                       {"RESERVE_BATCH_WINDOW_US", "250"}},
                      {});
  ASSERT_TRUE(r.errors.empty());
  EXPECT_EQ(r.config.reserve_batch_max, 1u);
  EXPECT_EQ(r.config.reserve_batch_concurrency, 4u);
  EXPECT_EQ(r.config.reserve_batch_window, std::chrono::microseconds(250));
  const auto bad = load({{"RESERVE_BATCH_MAX", "0"},
                         {"RESERVE_BATCH_CONCURRENCY", "many"},
                         {"RESERVE_BATCH_WINDOW_US", "-5"}},
                        {});
  EXPECT_EQ(bad.errors.size(), 3u);
  EXPECT_TRUE(mentions(bad.errors, "RESERVE_BATCH_WINDOW_US"));
}

TEST(Config, ErrorsNeverEchoSecrets) {
  const auto r = load({{"DATABASE_URL", "mysql://user:hunter2@db/x"}}, {});
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].find("hunter2"), std::string::npos);
}

TEST(Config, ProductionRequiresSecrets) {
  const auto r = load({{"NODE_ENV", "production"}}, {});
  EXPECT_TRUE(mentions(r.missing_secrets, "JWT_SECRET"));
  EXPECT_TRUE(mentions(r.missing_secrets, "PAYMENT_WEBHOOK_SECRET"));
  EXPECT_TRUE(mentions(r.missing_secrets, "TICKET_SIGNING_SECRET"));
  const auto ok = load({{"NODE_ENV", "production"},
                        {"JWT_SECRET", std::string(40, 'x')},
                        {"PAYMENT_WEBHOOK_SECRET", "whsec_0123456789abcdef"},
                        {"TICKET_SIGNING_SECRET", std::string(40, 't')}},
                       {});
  EXPECT_TRUE(ok.errors.empty());
  EXPECT_TRUE(ok.missing_secrets.empty());
  EXPECT_FALSE(ok.config.payment_simulator_enabled());  // off by default in production
  const auto sim = load({{"NODE_ENV", "production"},
                         {"JWT_SECRET", std::string(40, 'x')},
                         {"PAYMENT_WEBHOOK_SECRET", "whsec_0123456789abcdef"},
                         {"TICKET_SIGNING_SECRET", std::string(40, 't')},
                         {"PAYMENT_SIMULATOR", "on"}},
                        {});
  EXPECT_TRUE(mentions(sim.errors, "PAYMENT_SIMULATOR"));
}

TEST(Config, WebhookSecretRequiredOutsideDevelopment) {
  EXPECT_TRUE(mentions(load({{"NODE_ENV", "test"}}, {}).missing_secrets, "PAYMENT_WEBHOOK_SECRET"));
  const auto ok =
      load({{"NODE_ENV", "test"}, {"PAYMENT_WEBHOOK_SECRET", "test-secret-0123456789"}}, {});
  EXPECT_TRUE(ok.errors.empty());
  EXPECT_FALSE(mentions(ok.missing_secrets, "PAYMENT_WEBHOOK_SECRET"));
  EXPECT_EQ(ok.config.webhook_secrets(), std::vector<std::string>{"test-secret-0123456789"});
  // development: a development-only secret
  EXPECT_TRUE(load({{"NODE_ENV", "development"}}, {}).missing_secrets.empty());
}

TEST(Config, WebhookSecretsRotate) {
  const auto r = load({{"NODE_ENV", "development"},
                       {"PAYMENT_WEBHOOK_SECRET", " old-secret-0123456789 ,new-secret-0123456789"}},
                      {});
  ASSERT_TRUE(r.errors.empty());
  EXPECT_EQ(r.config.webhook_secrets(),
            (std::vector<std::string>{"old-secret-0123456789", "new-secret-0123456789"}));
  EXPECT_TRUE(r.config.payment_simulator_enabled());  // on by default in development
  const auto dev = load({{"NODE_ENV", "development"}}, {});
  EXPECT_EQ(dev.config.webhook_secrets().size(), 1u);  // the development-only secret
  EXPECT_TRUE(
      mentions(load({{"PAYMENT_WEBHOOK_SECRET", "short"}}, {}).errors, "PAYMENT_WEBHOOK_SECRET"));
}

TEST(Config, OutboxPublisherSettings) {
  const auto d = load({}, {});
  EXPECT_EQ(d.config.outbox_publish_batch_size, 200);
  EXPECT_EQ(d.config.outbox_publish_interval, std::chrono::milliseconds(1'000));
  EXPECT_EQ(d.config.outbox_publish_max_attempts, 10);
  EXPECT_EQ(d.config.outbox_publish_backoff, std::chrono::milliseconds(500));
  EXPECT_EQ(d.config.outbox_publish_backoff_max, std::chrono::milliseconds(60'000));
  EXPECT_EQ(d.config.outbox_publish_lease, std::chrono::milliseconds(30'000));
  EXPECT_EQ(d.config.outbox_retention_hours, 168);

  const auto r = load({{"OUTBOX_PUBLISH_BATCH_SIZE", "50"},
                       {"OUTBOX_PUBLISH_INTERVAL_MS", "250"},
                       {"OUTBOX_PUBLISH_MAX_ATTEMPTS", "3"},
                       {"OUTBOX_PUBLISH_BACKOFF_MS", "100"},
                       {"OUTBOX_PUBLISH_BACKOFF_MAX_MS", "2000"},
                       {"OUTBOX_PUBLISH_LEASE_MS", "45000"},
                       {"OUTBOX_RETENTION_HOURS", "0"}},
                      {});
  ASSERT_TRUE(r.errors.empty()) << r.errors.front();
  EXPECT_EQ(r.config.outbox_publish_batch_size, 50);
  EXPECT_EQ(r.config.outbox_publish_interval, std::chrono::milliseconds(250));
  EXPECT_EQ(r.config.outbox_publish_max_attempts, 3);
  EXPECT_EQ(r.config.outbox_publish_backoff, std::chrono::milliseconds(100));
  EXPECT_EQ(r.config.outbox_publish_backoff_max, std::chrono::milliseconds(2'000));
  EXPECT_EQ(r.config.outbox_publish_lease, std::chrono::milliseconds(45'000));
  EXPECT_EQ(r.config.outbox_retention_hours, 0);

  const auto bad = load({{"OUTBOX_PUBLISH_BATCH_SIZE", "0"},
                         {"OUTBOX_PUBLISH_INTERVAL_MS", "5"},
                         {"OUTBOX_PUBLISH_MAX_ATTEMPTS", "many"},
                         {"OUTBOX_PUBLISH_LEASE_MS", "10"},
                         {"OUTBOX_RETENTION_HOURS", "-1"}},
                        {});
  EXPECT_EQ(bad.errors.size(), 5u);
  EXPECT_TRUE(mentions(bad.errors, "OUTBOX_PUBLISH_BATCH_SIZE"));
  EXPECT_TRUE(mentions(bad.errors, "OUTBOX_PUBLISH_INTERVAL_MS"));
  EXPECT_TRUE(mentions(bad.errors, "OUTBOX_PUBLISH_MAX_ATTEMPTS"));
  EXPECT_TRUE(mentions(bad.errors, "OUTBOX_PUBLISH_LEASE_MS"));
  EXPECT_TRUE(mentions(bad.errors, "OUTBOX_RETENTION_HOURS"));

  const auto inverted =
      load({{"OUTBOX_PUBLISH_BACKOFF_MS", "5000"}, {"OUTBOX_PUBLISH_BACKOFF_MAX_MS", "1000"}}, {});
  ASSERT_EQ(inverted.errors.size(), 1u);
  EXPECT_TRUE(mentions(inverted.errors, "OUTBOX_PUBLISH_BACKOFF_MAX_MS"));
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

// .env.example leaves optional values empty with a comment after them; copied to .env it was
// refused ("TRUSTED_PROXIES: '# comma-separated ...' is not an IP address").
TEST(Dotenv, AnEmptyValueFollowedByACommentIsEmpty) {
  std::vector<std::string> errors;
  const auto env = parse_dotenv(
      "TRUSTED_PROXIES=            # comma-separated IPs\nPAYMENT_SIMULATOR=\t# on | off\n"
      "API_KEY=#not-a-comment\nLABEL=a#b # comment\n",
      errors);
  EXPECT_TRUE(errors.empty());
  EXPECT_EQ(env.at("TRUSTED_PROXIES"), "");
  EXPECT_EQ(env.at("PAYMENT_SIMULATOR"), "");
  EXPECT_EQ(env.at("API_KEY"), "#not-a-comment");
  EXPECT_EQ(env.at("LABEL"), "a#b");
}

}  // namespace
}  // namespace ticketd::config
