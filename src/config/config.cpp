#include "config/config.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <boost/url/parse.hpp>
#include <cctype>
#include <charconv>
#include <cmath>
#include <deque>
#include <fstream>
#include <functional>
#include <sstream>

extern char** environ;  // NOLINT: POSIX

#include "core/strings.hpp"

namespace ticketd::config {
namespace {

using core::trim;

bool parse_int(std::string_view s, long long& out) {
  s = trim(s);
  const auto* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, out);
  return ec == std::errc{} && ptr == end && !s.empty();
}

// "a, b,c" -> {"a", "b", "c"}: the form of every list of secrets (rotation keeps old ones).
std::vector<std::string> split_secrets(const Secret& secret) {
  std::vector<std::string> out;
  std::string_view rest = secret.reveal();
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const auto one = trim(rest.substr(0, comma));
    if (!one.empty()) out.emplace_back(one);
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
  }
  return out;
}

// Each variable is one row: its name and how it lands in Config. A row returns an error text
// for a bad value, or "" when it accepted it.
using Setter = std::function<std::string(Config&, std::string_view)>;
struct Row {
  std::string_view name;
  Setter set;
};

Setter int_in(int Config::*field, long long lo, long long hi) {
  return [=](Config& c, std::string_view v) -> std::string {
    long long n = 0;
    if (!parse_int(v, n) || n < lo || n > hi)
      return fmt::format("must be an integer in [{}, {}]", lo, hi);
    c.*field = static_cast<int>(n);
    return {};
  };
}

Setter size_in(std::size_t Config::*field, long long lo, long long hi) {
  return [=](Config& c, std::string_view v) -> std::string {
    long long n = 0;
    if (!parse_int(v, n) || n < lo || n > hi)
      return fmt::format("must be an integer in [{}, {}]", lo, hi);
    c.*field = static_cast<std::size_t>(n);
    return {};
  };
}

template <typename Duration>
Setter duration_in(Duration Config::*field, long long lo, long long hi, const char* unit) {
  return [=](Config& c, std::string_view v) -> std::string {
    long long n = 0;
    if (!parse_int(v, n) || n < lo || n > hi) {
      return fmt::format("must be a number of {} in [{}, {}]", unit, lo, hi);
    }
    c.*field = Duration(n);
    return {};
  };
}

Setter ms_in(std::chrono::milliseconds Config::*field, long long lo, long long hi) {
  return duration_in(field, lo, hi, "milliseconds");
}

Setter boolean(bool Config::*field) {
  return [=](Config& c, std::string_view v) -> std::string {
    v = trim(v);
    if (v == "true" || v == "1" || v == "on" || v == "yes") {
      c.*field = true;
    } else if (v == "false" || v == "0" || v == "off" || v == "no") {
      c.*field = false;
    } else {
      return "must be true or false";
    }
    return {};
  };
}

// A duration given in seconds, fractions allowed ("2", "0.25").
Setter seconds_in(std::chrono::milliseconds Config::*field, double lo, double hi) {
  return [=](Config& c, std::string_view v) -> std::string {
    v = trim(v);
    double s = 0;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), s);
    if (v.empty() || ec != std::errc{} || end != v.data() + v.size() || s < lo || s > hi) {
      return fmt::format("must be a number of seconds in [{}, {}]", lo, hi);
    }
    c.*field = std::chrono::milliseconds(std::llround(s * 1000.0));
    return {};
  };
}

Setter text(std::string Config::*field, bool allow_empty = false) {
  return [=](Config& c, std::string_view v) -> std::string {
    v = trim(v);
    if (v.empty() && !allow_empty) return "must not be empty";
    c.*field = std::string(v);
    return {};
  };
}

Setter proxies(core::TrustedProxies Config::*field) {
  return [=](Config& c, std::string_view v) -> std::string {
    std::string error;
    auto parsed = core::TrustedProxies::parse(v, error);
    if (!parsed) return "must be comma-separated IP addresses or CIDR networks: " + error;
    c.*field = std::move(*parsed);
    return {};
  };
}

Setter rate(core::RateRule Config::*field) {
  return [=](Config& c, std::string_view v) -> std::string {
    auto parsed = core::RateRule::parse(v);
    if (!parsed) return "must be <count>/<period> (e.g. 30/1m, 5/10s, 1000/1h) or off";
    c.*field = *parsed;
    return {};
  };
}

Setter one_of(std::string Config::*field, const std::vector<std::string_view>& allowed) {
  return [=](Config& c, std::string_view v) -> std::string {
    v = trim(v);
    if (std::find(allowed.begin(), allowed.end(), v) == allowed.end()) {
      return fmt::format("must be one of {}", fmt::join(allowed, ", "));
    }
    c.*field = std::string(v);
    return {};
  };
}

Setter url(Secret Config::*field, const std::vector<std::string_view>& schemes) {
  return [=](Config& c, std::string_view v) -> std::string {
    v = trim(v);
    auto parsed = boost::urls::parse_absolute_uri(v);
    if (!parsed || std::find(schemes.begin(), schemes.end(), parsed->scheme()) == schemes.end() ||
        parsed->host().empty()) {
      // The value itself may hold a password: never echo it.
      return fmt::format("must be a URL with scheme {} and a host", fmt::join(schemes, " or "));
    }
    c.*field = Secret(std::string(v));
    return {};
  };
}

Setter secret(Secret Config::*field) {
  return [=](Config& c, std::string_view v) -> std::string {
    c.*field = Secret(std::string(trim(v)));
    return {};
  };
}

// ALERT_<NAME>_THRESHOLD, _WINDOW_SECONDS and _SEVERITY for every rule.
void add_alert_rows(std::vector<Row>& table) {
  static std::deque<std::string> names;  // rows hold views: the names must outlive the table
  for (const auto& rule : default_alert_rules()) {
    std::string upper;
    for (const char ch : rule.name) upper.push_back(static_cast<char>(std::toupper(ch)));
    auto find = [name = rule.name](Config& c) -> AlertRuleSettings& {
      return *std::find_if(c.alert_rules.begin(), c.alert_rules.end(),
                           [&](const AlertRuleSettings& r) { return r.name == name; });
    };
    names.push_back("ALERT_" + upper + "_THRESHOLD");
    table.push_back({names.back(), [find](Config& c, std::string_view v) -> std::string {
                       v = trim(v);
                       double x = 0;
                       const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
                       if (v.empty() || ec != std::errc{} || end != v.data() + v.size() ||
                           !std::isfinite(x) || x < 0) {
                         return "must be a number >= 0";
                       }
                       find(c).threshold = x;
                       return {};
                     }});
    names.push_back("ALERT_" + upper + "_WINDOW_SECONDS");
    table.push_back({names.back(), [find](Config& c, std::string_view v) -> std::string {
                       long long n = 0;
                       if (!parse_int(v, n) || n < 0 || n > 86'400) {
                         return "must be an integer in [0, 86400]";
                       }
                       find(c).window_seconds = static_cast<int>(n);
                       return {};
                     }});
    names.push_back("ALERT_" + upper + "_SEVERITY");
    table.push_back({names.back(), [find](Config& c, std::string_view v) -> std::string {
                       v = trim(v);
                       if (v != "warning" && v != "critical") return "must be warning or critical";
                       find(c).critical = v == "critical";
                       return {};
                     }});
  }
}

const std::vector<Row>& rows() {
  static const std::vector<Row> table = [] {
    std::vector<Row> t{
        {"NODE_ENV", one_of(&Config::node_env, {"development", "test", "production"})},
        {"LOG_LEVEL", one_of(&Config::log_level, {"debug", "info", "warn", "error"})},
        {"HOST", text(&Config::host)},
        {"PORT", int_in(&Config::port, 0, 65535)},
        {"API_PREFIX", text(&Config::api_prefix, true)},
        {"API_VERSION", text(&Config::api_version, true)},
        {"API_DOCS_PATH", text(&Config::api_docs_path)},
        {"HTTP_THREADS", int_in(&Config::http_threads, 0, 256)},
        {"HTTP_BODY_LIMIT_BYTES", size_in(&Config::http_body_limit_bytes, 1024, 64 << 20)},
        {"HTTP_LAYOUT_BODY_LIMIT_BYTES",
         size_in(&Config::http_layout_body_limit_bytes, 1024, 256 << 20)},
        {"HTTP_HEADER_TIMEOUT_MS", ms_in(&Config::http_header_timeout, 100, 600'000)},
        {"HTTP_BODY_TIMEOUT_MS", ms_in(&Config::http_body_timeout, 100, 600'000)},
        {"HTTP_IDLE_TIMEOUT_MS", ms_in(&Config::http_idle_timeout, 100, 3'600'000)},
        {"HTTP_MAX_CONNECTIONS", int_in(&Config::http_max_connections, 1, 1'000'000)},
        {"HTTP_MAX_CONNECTIONS_PER_IP", int_in(&Config::http_max_connections_per_ip, 1, 1'000'000)},
        {"TRUSTED_PROXIES", proxies(&Config::trusted_proxies)},
        {"HTTP_MAX_IN_FLIGHT_READS", int_in(&Config::http_max_in_flight_reads, 0, 1'000'000)},
        {"HTTP_MAX_IN_FLIGHT_WRITES", int_in(&Config::http_max_in_flight_writes, 0, 1'000'000)},
        {"HTTP_MAX_IN_FLIGHT_AUTH", int_in(&Config::http_max_in_flight_auth, 0, 1'000'000)},
        {"HTTP_MAX_IN_FLIGHT_RESERVE", int_in(&Config::http_max_in_flight_reserve, 0, 1'000'000)},
        {"HTTP_MAX_IN_FLIGHT_QUEUE", int_in(&Config::http_max_in_flight_queue, 0, 1'000'000)},
        {"HTTP_MAX_IN_FLIGHT_PAYMENTS", int_in(&Config::http_max_in_flight_payments, 0, 1'000'000)},
        {"HTTP_MAX_IN_FLIGHT_WEBHOOK", int_in(&Config::http_max_in_flight_webhook, 0, 1'000'000)},
        {"SHUTDOWN_TIMEOUT_MS", ms_in(&Config::shutdown_timeout, 0, 600'000)},
        {"DATABASE_URL", url(&Config::database_url, {"postgres", "postgresql"})},
        {"RATE_LIMIT_ENABLED", boolean(&Config::rate_limit_enabled)},
        {"RATE_LIMIT_API_IP", rate(&Config::rate_limit_api_ip)},
        {"RATE_LIMIT_AUTH_IP", rate(&Config::rate_limit_auth_ip)},
        {"RATE_LIMIT_LOGIN_FAILURES_EMAIL", rate(&Config::rate_limit_login_failures_email)},
        {"RATE_LIMIT_RESERVE_USER", rate(&Config::rate_limit_reserve_user)},
        {"RATE_LIMIT_RESERVE_IP", rate(&Config::rate_limit_reserve_ip)},
        {"RATE_LIMIT_PAYMENTS_USER", rate(&Config::rate_limit_payments_user)},
        {"RATE_LIMIT_PAYMENTS_IP", rate(&Config::rate_limit_payments_ip)},
        {"RATE_LIMIT_WEBHOOK_IP", rate(&Config::rate_limit_webhook_ip)},
        {"RATE_LIMIT_SSE_CONNECT_IP", rate(&Config::rate_limit_sse_connect_ip)},
        {"DATABASE_POOL_SIZE", int_in(&Config::db_pool_size, 1, 500)},
        {"DATABASE_POOL_TIMEOUT_MS", ms_in(&Config::db_pool_timeout, 1, 60'000)},
        {"DATABASE_POOL_HOT_TIMEOUT_MS", ms_in(&Config::db_pool_hot_timeout, 1, 60'000)},
        {"DATABASE_CONNECT_TIMEOUT_MS", ms_in(&Config::db_connect_timeout, 100, 60'000)},
        {"DATABASE_STATEMENT_TIMEOUT_MS", ms_in(&Config::db_statement_timeout, 1, 600'000)},
        {"REDIS_URL", url(&Config::redis_url, {"redis"})},
        {"KAFKA_BROKERS", text(&Config::kafka_brokers)},
        {"KAFKA_CLIENT_ID", text(&Config::kafka_client_id)},
        {"KAFKA_TOPIC_PARTITIONS", int_in(&Config::kafka_topic_partitions, 1, 1000)},
        {"KAFKA_TOPIC_REPLICATION", int_in(&Config::kafka_topic_replication, 1, 16)},
        {"JWT_SECRET", secret(&Config::jwt_secret)},
        {"JWT_SECRET_PREVIOUS", secret(&Config::jwt_secret_previous)},
        {"JWT_EXPIRES_IN", text(&Config::jwt_expires_in)},
        {"JWT_REFRESH_EXPIRES_IN", text(&Config::jwt_refresh_expires_in)},
        {"JWT_ISSUER", text(&Config::jwt_issuer)},
        {"JWT_AUDIENCE", text(&Config::jwt_audience)},
        {"BOOTSTRAP_SUPER_ADMIN_EMAIL", text(&Config::bootstrap_super_admin_email, true)},
        {"ORG_CREATION", one_of(&Config::org_creation, {"open", "admin"})},
        {"AUTH_HASH_THREADS", int_in(&Config::auth_hash_threads, 1, 64)},
        {"AUTH_HASH_QUEUE", int_in(&Config::auth_hash_queue, 1, 100'000)},
        {"AUTH_CACHE_TTL_MS", ms_in(&Config::auth_cache_ttl, 0, 60'000)},
        {"PAYMENT_WEBHOOK_SECRET", secret(&Config::payment_webhook_secret)},
        {"PAYMENT_WEBHOOK_TOLERANCE_SECONDS",
         int_in(&Config::payment_webhook_tolerance_seconds, 1, 3'600)},
        {"PAYMENT_WEBHOOK_REJECTED_RETENTION_HOURS",
         int_in(&Config::payment_webhook_rejected_retention_hours, 0, 87'600)},
        {"PAYMENT_SIMULATOR", one_of(&Config::payment_simulator, {"", "on", "off"})},
        {"PAYMENT_SIMULATOR_WEBHOOK_URL", text(&Config::payment_simulator_webhook_url, true)},
        {"TICKET_SIGNING_SECRET", secret(&Config::ticket_signing_secret)},
        {"TICKET_SIGNING_SECRET_PREVIOUS", secret(&Config::ticket_signing_secret_previous)},
        {"KAFKA_CONSUMER_GROUP", text(&Config::kafka_consumer_group)},
        {"CONSUMER_MAX_ATTEMPTS", int_in(&Config::consumer_max_attempts, 1, 100)},
        {"CONSUMER_BACKOFF_MS", ms_in(&Config::consumer_backoff, 1, 600'000)},
        {"CONSUMER_BACKOFF_MAX_MS", ms_in(&Config::consumer_backoff_max, 1, 3'600'000)},
        {"VENUE_MAX_SEATS", int_in(&Config::venue_max_seats, 1, 1'000'000)},
        {"GA_CAPACITY_SLOTS", int_in(&Config::ga_capacity_slots, 1, 256)},
        {"SEATMAP_CACHE_TTL_MS", ms_in(&Config::seatmap_cache_ttl, 0, 3'600'000)},
        {"SEATMAP_CACHE_MAX_EVENTS", int_in(&Config::seatmap_cache_max_events, 1, 100'000)},
        {"QUEUE_ADMISSION_TTL_SECONDS", int_in(&Config::queue_admission_ttl_seconds, 10, 86'400)},
        {"RESERVATION_TTL_SECONDS", int_in(&Config::reservation_ttl_seconds, 5, 86'400)},
        {"RESERVATION_MAX_SEATS", int_in(&Config::reservation_max_seats, 1, 1'000)},
        {"RESERVATION_MAX_ACTIVE_PER_USER_EVENT",
         int_in(&Config::reservation_max_active_per_user_event, 1, 1'000)},
        {"RESERVE_LOCK_TIMEOUT_MS", ms_in(&Config::reserve_lock_timeout, 1, 60'000)},
        {"RESERVE_BATCH_MAX", size_in(&Config::reserve_batch_max, 1, 1'000)},
        {"RESERVE_BATCH_CONCURRENCY", size_in(&Config::reserve_batch_concurrency, 1, 64)},
        {"RESERVE_BATCH_WINDOW_US",
         duration_in(&Config::reserve_batch_window, 0, 1'000'000, "microseconds")},
        {"SSE_HEARTBEAT_SECONDS", seconds_in(&Config::sse_heartbeat, 0.05, 3'600)},
        {"SSE_CLIENT_QUEUE_MAX", int_in(&Config::sse_client_queue_max, 1, 1'000'000)},
        {"SSE_MAX_STREAMS", int_in(&Config::sse_max_streams, 1, 1'000'000)},
        {"SSE_MAX_STREAMS_PER_IP", int_in(&Config::sse_max_streams_per_ip, 1, 1'000'000)},
        {"SSE_MAX_STREAMS_PER_USER", int_in(&Config::sse_max_streams_per_user, 1, 1'000'000)},
        {"SSE_WRITE_TIMEOUT_MS", ms_in(&Config::sse_write_timeout, 100, 600'000)},
        {"WORKERS_ENABLED", boolean(&Config::workers_enabled)},
        {"RESERVATION_EXPIRY_INTERVAL_SECONDS",
         seconds_in(&Config::reservation_expiry_interval, 0.01, 600)},
        {"RESERVATION_EXPIRY_BATCH", int_in(&Config::reservation_expiry_batch, 1, 100'000)},
        {"OUTBOX_PUBLISH_BATCH_SIZE", int_in(&Config::outbox_publish_batch_size, 1, 10'000)},
        {"OUTBOX_PUBLISH_INTERVAL_MS", ms_in(&Config::outbox_publish_interval, 10, 600'000)},
        {"OUTBOX_PUBLISH_MAX_ATTEMPTS", int_in(&Config::outbox_publish_max_attempts, 1, 1'000)},
        {"OUTBOX_PUBLISH_BACKOFF_MS", ms_in(&Config::outbox_publish_backoff, 1, 3'600'000)},
        {"OUTBOX_PUBLISH_BACKOFF_MAX_MS",
         ms_in(&Config::outbox_publish_backoff_max, 1, 86'400'000)},
        {"OUTBOX_PUBLISH_LEASE_MS", ms_in(&Config::outbox_publish_lease, 1'000, 3'600'000)},
        {"OUTBOX_RETENTION_HOURS", int_in(&Config::outbox_retention_hours, 0, 87'600)},
        {"ALERT_SAMPLE_SECONDS", seconds_in(&Config::alert_sample_interval, 0.1, 3'600)},
        {"ALERT_MIN_EVENTS", int_in(&Config::alert_min_events, 1, 1'000'000)},
    };
    add_alert_rows(t);
    return t;
  }();
  return table;
}

// Rules that relate several values or depend on the environment kind. Secrets a server needs
// go to `secrets` (commands that serve nothing, like migrate, run without them).
void cross_check(const Config& c, std::vector<std::string>& errors,
                 std::vector<std::string>& secrets, std::vector<std::string>& warnings) {
  // Only an explicit NODE_ENV=development may run on the published development secrets: a
  // deployment that forgets NODE_ENV is production, and `test` is as strict.
  if (!c.is_development()) {
    if (c.jwt_secret.reveal().size() < 32) {
      secrets.push_back(fmt::format(
          "JWT_SECRET: must be set to at least 32 characters when NODE_ENV={}", c.node_env));
    }
    if (c.ticket_signing_secret.reveal().size() < 32) {
      secrets.push_back(fmt::format(
          "TICKET_SIGNING_SECRET: must be set to at least 32 characters when NODE_ENV={}",
          c.node_env));
    }
    // Webhooks move money: a missing secret is a misconfiguration, never an invitation to
    // accept unsigned webhooks (or ones signed with a published development secret).
    if (c.payment_webhook_secret.empty()) {
      secrets.push_back(
          fmt::format("PAYMENT_WEBHOOK_SECRET: must be set when NODE_ENV={}", c.node_env));
    }
  } else if (c.jwt_secret.empty()) {
    warnings.emplace_back(
        "NODE_ENV=development: using development-only secrets, never expose this instance");
  }
  if (c.is_production() && c.payment_simulator == "on") {
    errors.emplace_back("PAYMENT_SIMULATOR: must not be on when NODE_ENV=production");
  }
  for (const auto& s : c.jwt_previous_secrets()) {
    if (s.size() < 32) {
      errors.emplace_back("JWT_SECRET_PREVIOUS: each secret must be at least 32 characters");
      break;
    }
  }
  for (const auto& s : c.ticket_signing_previous_secrets()) {
    if (s.size() < 32) {
      errors.emplace_back(
          "TICKET_SIGNING_SECRET_PREVIOUS: each secret must be at least 32 characters");
      break;
    }
  }
  for (const auto& s : c.webhook_secrets()) {
    if (s.size() < 16) {
      errors.emplace_back("PAYMENT_WEBHOOK_SECRET: each secret must be at least 16 characters");
      break;
    }
  }
  if (c.consumer_backoff_max < c.consumer_backoff) {
    errors.emplace_back("CONSUMER_BACKOFF_MAX_MS: must not be smaller than CONSUMER_BACKOFF_MS");
  }
  if (!c.payment_simulator_webhook_url.empty() &&
      !c.payment_simulator_webhook_url.starts_with("http://")) {
    errors.emplace_back("PAYMENT_SIMULATOR_WEBHOOK_URL: must be an http:// URL");
  }
  if (c.http_layout_body_limit_bytes < c.http_body_limit_bytes) {
    errors.emplace_back(
        "HTTP_LAYOUT_BODY_LIMIT_BYTES: must not be smaller than HTTP_BODY_LIMIT_BYTES");
  }
  auto check_duration = [&](std::string_view name, const std::string& v) {
    long long n = 0;
    const char unit = v.empty() ? '\0' : v.back();
    const bool unit_ok = unit == 's' || unit == 'm' || unit == 'h' || unit == 'd';
    const std::string_view digits = unit_ok ? std::string_view(v).substr(0, v.size() - 1) : v;
    if (!parse_int(digits, n) || n <= 0) {
      errors.push_back(fmt::format(
          "{}: must be a positive number of seconds or a duration like 15m, 1h, 1d", name));
    }
  };
  if (c.outbox_publish_backoff_max < c.outbox_publish_backoff) {
    errors.emplace_back(
        "OUTBOX_PUBLISH_BACKOFF_MAX_MS: must not be smaller than OUTBOX_PUBLISH_BACKOFF_MS");
  }
  // One or more path segments of URL-safe characters, without surrounding slashes ("docs",
  // "reference/api"): the page, its assets and the document are served under it.
  const auto& docs = c.api_docs_path;
  const bool docs_ok = !docs.empty() && docs.front() != '/' && docs.back() != '/' &&
                       docs.find("//") == std::string::npos &&
                       std::all_of(docs.begin(), docs.end(), [](char ch) {
                         return std::isalnum(static_cast<unsigned char>(ch)) != 0 || ch == '-' ||
                                ch == '_' || ch == '.' || ch == '~' || ch == '/';
                       });
  if (!docs_ok) {
    errors.emplace_back(
        "API_DOCS_PATH: must be a path without leading or trailing '/' of letters, digits and "
        "- _ . ~ (e.g. docs)");
  }
  check_duration("JWT_EXPIRES_IN", c.jwt_expires_in);
  check_duration("JWT_REFRESH_EXPIRES_IN", c.jwt_refresh_expires_in);
}

}  // namespace

std::vector<AlertRuleSettings> default_alert_rules() {
  // name, threshold, window (s), critical. Windows of 0 judge the current reading.
  return {
      {"readiness", 0, 0, true},                    // failing /health/ready checks
      {"http_5xx_ratio", 0.05, 300, true},          // 5xx other than 503 / all responses
      {"reserve_p99_seconds", 0.5, 300, false},     // p99 of POST /reservations decisions
      {"outbox_failure_ratio", 0.2, 300, true},     // failed / attempted outbox deliveries
      {"outbox_backlog_age_seconds", 60, 0, true},  // oldest PENDING outbox row
      {"webhook_failure_ratio", 0.2, 300, false},   // rejected + invalid / all payment webhooks
      {"dlq_growth", 0, 900, false},                // messages dead-lettered in the window
      {"consumer_retries", 10, 900, false},         // consumer attempts that will be retried
      {"consumer_lag", 1'000, 120, false},          // messages behind, throughout the window
      {"db_pool_saturation", 0.9, 60, false},       // connections in use / pool size, throughout
      {"expiry_lag_seconds", 60, 0, true},          // oldest ACTIVE hold past its expiry
      {"redis_down", 0, 15, false},                 // 1 while a Redis link is down throughout
      {"kafka_down", 0, 15, false},                 // 1 while the broker is unreachable throughout
  };
}

std::string Config::effective_jwt_secret() const {
  if (!jwt_secret.empty()) return jwt_secret.reveal();
  return "ticketd-development-only-secret-never-use-in-production";
}

std::vector<std::string> Config::webhook_secrets() const {
  auto out = split_secrets(payment_webhook_secret);
  if (out.empty() && is_development()) {
    out.emplace_back("ticketd-development-only-webhook-secret");
  }
  return out;
}

std::vector<std::string> Config::jwt_previous_secrets() const {
  return split_secrets(jwt_secret_previous);
}

std::vector<std::string> Config::ticket_signing_previous_secrets() const {
  return split_secrets(ticket_signing_secret_previous);
}

std::string Config::effective_ticket_signing_secret() const {
  if (!ticket_signing_secret.empty()) return ticket_signing_secret.reveal();
  return "ticketd-development-only-ticket-signing-secret";
}

bool Config::payment_simulator_enabled() const noexcept {
  if (payment_simulator.empty()) return is_development();
  return payment_simulator == "on";
}

std::string Config::api_base() const {
  std::string base;
  if (!api_prefix.empty()) base += "/" + api_prefix;
  if (!api_version.empty()) base += "/" + api_version;
  return base;
}

Environment parse_dotenv(std::string_view text, std::vector<std::string>& errors) {
  Environment out;
  std::size_t line_no = 0;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    std::string_view line = trim(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    ++line_no;
    if (line.empty() || line.front() == '#') continue;
    if (line.starts_with("export ")) line = trim(line.substr(7));
    const auto eq = line.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      errors.push_back(fmt::format(".env line {}: expected KEY=VALUE", line_no));
      continue;
    }
    const std::string_view key = trim(line.substr(0, eq));
    const std::string_view raw = line.substr(eq + 1);
    std::string_view value = trim(raw);
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
        value.back() == value.front()) {
      value = value.substr(1, value.size() - 2);
    } else {
      // A comment starts at a '#' after whitespace, also when nothing precedes it
      // ("KEY=   # unset by default", as .env.example writes it); "KEY=#x" is the value "#x".
      for (auto hash = raw.find('#'); hash != std::string_view::npos;
           hash = raw.find('#', hash + 1)) {
        if (hash > 0 && (raw[hash - 1] == ' ' || raw[hash - 1] == '\t')) {
          value = trim(raw.substr(0, hash));
          break;
        }
      }
    }
    out[std::string(key)] = std::string(value);
  }
  return out;
}

LoadResult load(const Environment& env, const Environment& dotenv) {
  LoadResult r;
  for (const auto& row : rows()) {
    const std::string* value = nullptr;
    if (auto it = env.find(row.name); it != env.end()) {
      value = &it->second;
    } else if (auto jt = dotenv.find(row.name); jt != dotenv.end()) {
      value = &jt->second;
    }
    if (value == nullptr) continue;
    if (std::string err = row.set(r.config, *value); !err.empty()) {
      r.errors.push_back(fmt::format("{}: {}", row.name, err));
    }
  }
  cross_check(r.config, r.errors, r.missing_secrets, r.warnings);
  return r;
}

Environment process_environment() {
  Environment out;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view kv(*e);
    const auto eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    out.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  return out;
}

Environment read_dotenv_file(const Environment& env, std::vector<std::string>& errors) {
  std::string path = ".env";
  if (auto it = env.find("ENV_FILE"); it != env.end() && !it->second.empty()) path = it->second;
  std::ifstream in(path);
  if (!in) {
    if (env.contains("ENV_FILE")) errors.push_back(fmt::format("ENV_FILE: cannot read {}", path));
    return {};
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_dotenv(ss.str(), errors);
}

const std::vector<std::string_view>& known_variables() {
  static const std::vector<std::string_view> names = [] {
    std::vector<std::string_view> v;
    for (const auto& r : rows()) v.push_back(r.name);
    return v;
  }();
  return names;
}

}  // namespace ticketd::config
