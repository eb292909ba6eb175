#pragma once
// Runtime configuration. Precedence: process environment > .env file > defaults. Names follow
// the reference service (.env.example) plus ticketd's own. Validation reports every bad value at
// once.
#include <chrono>
#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/rate_rule.hpp"
#include "core/trusted_proxies.hpp"

namespace ticketd::config {

using Environment = std::map<std::string, std::string, std::less<>>;

// A secret that never reaches a log line or an error message by accident.
class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string value) : value_(std::move(value)) {}
  const std::string& reveal() const noexcept { return value_; }
  bool empty() const noexcept { return value_.empty(); }

 private:
  std::string value_;
};

// One /health/alerts rule's settings (modules/health/alerts.hpp says how each kind is judged).
struct AlertRuleSettings {
  std::string name;  // ALERT_<NAME>_THRESHOLD, _WINDOW_SECONDS, _SEVERITY with NAME in capitals
  double threshold = 0;
  int window_seconds = 0;
  bool critical = false;
};
// The rules and their defaults, in the order /health/alerts lists them.
std::vector<AlertRuleSettings> default_alert_rules();

struct Config {
  // production unless told otherwise: secrets required, payment simulator off. Only an explicit
  // `development` relaxes that; `test` is as strict as production but may switch the simulator
  // on.
  std::string node_env = "production";  // development | test | production
  std::string log_level = "info";

  // HTTP
  std::string host = "0.0.0.0";
  int port = 3000;
  std::string api_prefix = "api";
  std::string api_version = "v1";
  std::string api_docs_path = "docs";
  int http_threads = 0;  // 0 = one per core
  std::size_t http_body_limit_bytes = 1 << 20;
  std::size_t http_layout_body_limit_bytes = 16 << 20;
  std::chrono::milliseconds http_header_timeout{10'000};
  std::chrono::milliseconds http_body_timeout{30'000};
  std::chrono::milliseconds http_idle_timeout{60'000};
  std::chrono::milliseconds shutdown_timeout{10'000};
  int http_max_connections = 10'000;
  // Connections one socket address may hold open (SSE streams included); behind a proxy all
  // clients share its address, so raise it there.
  int http_max_connections_per_ip = 256;
  // Proxies whose X-Forwarded-For is believed (TRUSTED_PROXIES); none by default. The client
  // address they yield is what logs, audit rows and per-client limits see.
  core::TrustedProxies trusted_proxies;
  // Load shedding: requests in flight per traffic class (http/traffic.hpp) before 503
  // SERVER_BUSY; 0 = unbounded. HTTP_MAX_IN_FLIGHT_<CLASS>.
  int http_max_in_flight_reads = 256;
  int http_max_in_flight_writes = 128;
  int http_max_in_flight_auth = 64;
  int http_max_in_flight_reserve = 128;
  int http_max_in_flight_queue = 256;
  int http_max_in_flight_payments = 64;
  int http_max_in_flight_webhook = 64;

  // Rate limits (modules/ratelimit): token buckets in Redis, per-instance while Redis is down.
  // false turns every limit off, the SSE stream caps per address and per user included.
  bool rate_limit_enabled = true;
  core::RateRule rate_limit_api_ip{1'200, std::chrono::minutes(1)};  // every API request
  core::RateRule rate_limit_auth_ip{30, std::chrono::minutes(1)};    // register/login/refresh
  core::RateRule rate_limit_login_failures_email{10, std::chrono::minutes(15)};
  core::RateRule rate_limit_reserve_user{30, std::chrono::minutes(1)};
  core::RateRule rate_limit_reserve_ip{300, std::chrono::minutes(1)};
  core::RateRule rate_limit_payments_user{20, std::chrono::minutes(1)};
  core::RateRule rate_limit_payments_ip{200, std::chrono::minutes(1)};
  core::RateRule rate_limit_webhook_ip{600, std::chrono::minutes(1)};
  core::RateRule rate_limit_sse_connect_ip{60, std::chrono::minutes(1)};

  // PostgreSQL
  Secret database_url{"postgres://ticketd:ticketd@127.0.0.1:5555/ticketd"};
  int db_pool_size = 16;
  std::chrono::milliseconds db_pool_timeout{2'000};
  // The pool wait of the hot routes (reserve, checkout, webhooks): past it 503, not a queue.
  std::chrono::milliseconds db_pool_hot_timeout{50};
  std::chrono::milliseconds db_connect_timeout{3'000};
  std::chrono::milliseconds db_statement_timeout{5'000};

  // Redis
  Secret redis_url{"redis://127.0.0.1:6379"};

  // Kafka
  std::string kafka_brokers = "127.0.0.1:9092";
  std::string kafka_client_id = "ticketd";
  int kafka_topic_partitions = 3;
  int kafka_topic_replication = 1;

  // Security
  Secret jwt_secret;  // required outside development; there a fixed development secret is used
  // Earlier JWT_SECRETs, comma-separated: tokens (and admission tokens) they signed still verify,
  // nothing new is signed with them (rotation without logging everyone out: docs/OPERATIONS.md).
  Secret jwt_secret_previous;
  std::string jwt_expires_in = "15m";
  std::string jwt_refresh_expires_in = "30d";
  std::string jwt_issuer = "ticketd";
  std::string jwt_audience = "ticketd-api";
  std::string bootstrap_super_admin_email;
  std::string org_creation =
      "open";                 // open: any user creates organizations; admin: SUPER_ADMIN only
  int auth_hash_threads = 2;  // Argon2id workers (64 MiB each while hashing)
  int auth_hash_queue = 64;   // hashing jobs queued or running before 503
  // Reuse of a session's loaded rights (0 = a query per request); see iam::Settings.
  std::chrono::milliseconds auth_cache_ttl{1'000};
  // Payments. PAYMENT_WEBHOOK_SECRET may list several secrets separated by commas (rotation:
  // a webhook signed with any of them is accepted; the first one signs simulated webhooks).
  Secret payment_webhook_secret;  // required outside development; there a development-only one
  int payment_webhook_tolerance_seconds = 300;
  // Webhooks refused for a missing or bad signature (kept as a 2 KiB prefix) are deleted after
  // this many hours by the purge job; 0 keeps them.
  int payment_webhook_rejected_retention_hours = 72;
  std::string payment_simulator;  // on | off; empty = on in development only
  // Where the simulated provider delivers webhooks; empty = this instance's own endpoint.
  std::string payment_simulator_webhook_url;
  // Seals the organizations' ticket-signing keys at rest (required outside development).
  Secret ticket_signing_secret;
  // Earlier TICKET_SIGNING_SECRETs, comma-separated: organization keys sealed with one are opened
  // and sealed again with the current secret on first use.
  Secret ticket_signing_secret_previous;
  // payment.succeeded consumer (workers/payment_succeeded_consumer)
  std::string kafka_consumer_group = "ticketd-payment-succeeded";
  int consumer_max_attempts = 5;
  std::chrono::milliseconds consumer_backoff{200};
  std::chrono::milliseconds consumer_backoff_max{5'000};

  // Inventory
  int venue_max_seats = 100'000;  // seats per venue layout
  // General-admission capacity is split over this many counter rows so concurrent buyers do
  // not queue on one row lock (capacity holds over their sum).
  int ga_capacity_slots = 8;
  // Seat-map snapshots are invalidated through Redis on every change; this bounds how stale one
  // can get if an invalidation is lost (Redis down, a message missed while subscribing).
  std::chrono::milliseconds seatmap_cache_ttl{5'000};
  int seatmap_cache_max_events = 256;

  // Waiting room (modules/queue): how long an admission token lets its buyer reserve.
  int queue_admission_ttl_seconds = 600;

  // Reservations
  int reservation_ttl_seconds = 300;  // how long a hold lasts (database clock)
  int reservation_max_seats = 10;     // seats plus general-admission units per reservation
  int reservation_max_active_per_user_event = 1;
  // Longest wait for a row lock inside a reservation; past it the request fails fast.
  std::chrono::milliseconds reserve_lock_timeout{200};
  // Group commit for holds (reservations::Batcher): requests decided per database call (1: each
  // alone), batches in the database at once per instance, and how long a request waits for
  // company when a batch slot is free but another batch is in flight.
  std::size_t reserve_batch_max = 64;
  std::size_t reserve_batch_concurrency = 2;
  std::chrono::microseconds reserve_batch_window{2'000};

  // Live seat maps over SSE
  std::chrono::milliseconds sse_heartbeat{15'000};  // set in (fractional) seconds
  int sse_client_queue_max = 256;    // messages queued per client before it is dropped as slow
  int sse_max_streams = 10'000;      // concurrent streams per instance (503 above)
  int sse_max_streams_per_ip = 20;   // concurrent streams per client address (429 above)
  int sse_max_streams_per_user = 5;  // concurrent streams per signed-in user (429 above)
  std::chrono::milliseconds sse_write_timeout{10'000};

  // Workers (run inside `serve` unless disabled)
  bool workers_enabled = true;
  std::chrono::milliseconds reservation_expiry_interval{2'000};  // set in (fractional) seconds
  int reservation_expiry_batch = 500;
  // Outbox publisher (workers/outbox_publisher): woken by LISTEN/NOTIFY, polls as a fallback.
  int outbox_publish_batch_size = 200;
  std::chrono::milliseconds outbox_publish_interval{1'000};
  int outbox_publish_max_attempts = 10;                   // then FAILED
  std::chrono::milliseconds outbox_publish_backoff{500};  // retry delay base, doubled per attempt
  std::chrono::milliseconds outbox_publish_backoff_max{60'000};
  // How long a claimed batch stays with one publisher without news from it (a batch waiting for
  // the broker renews it every third of this); a crashed publisher's rows wait this long.
  std::chrono::milliseconds outbox_publish_lease{30'000};
  int outbox_retention_hours = 168;  // SENT rows older than this are purged; 0 = keep forever

  // /health/alerts: rules judged over sliding windows of readings taken every sample interval.
  std::vector<AlertRuleSettings> alert_rules = default_alert_rules();
  std::chrono::milliseconds alert_sample_interval{5'000};  // ALERT_SAMPLE_SECONDS
  int alert_min_events = 20;  // ratio and latency rules stay ok below this many events per window

  bool is_production() const noexcept { return node_env == "production"; }
  bool is_development() const noexcept { return node_env == "development"; }
  // JWT_SECRET, or the development-only secret when it is unset in development.
  std::string effective_jwt_secret() const;
  // The webhook secrets in order (the development-only one when unset in development).
  std::vector<std::string> webhook_secrets() const;
  std::string effective_ticket_signing_secret() const;
  std::vector<std::string> jwt_previous_secrets() const;
  std::vector<std::string> ticket_signing_previous_secrets() const;
  bool payment_simulator_enabled() const noexcept;
  // "/api/v1"
  std::string api_base() const;
};

struct LoadResult {
  Config config;
  std::vector<std::string> errors;  // empty when valid
  // Secrets a serving command needs and does not have (serve, seed-demo, config-check refuse to
  // start; migrate and admin do not need them).
  std::vector<std::string> missing_secrets;
  std::vector<std::string> warnings;
};

// Parses KEY=VALUE lines (optional `export `, quotes, # comments). Bad lines are reported in
// `errors` with their line number.
Environment parse_dotenv(std::string_view text, std::vector<std::string>& errors);

// Builds and validates a Config from the two layers (environment wins over the .env file).
LoadResult load(const Environment& env, const Environment& dotenv);

// The process environment as a map.
Environment process_environment();

// Reads the .env file named by ENV_FILE (default ".env" in the working directory), if present.
Environment read_dotenv_file(const Environment& env, std::vector<std::string>& errors);

// Every variable this build understands, in documentation order (config-check prints them).
const std::vector<std::string_view>& known_variables();

}  // namespace ticketd::config
