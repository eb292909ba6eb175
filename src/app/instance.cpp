#include "app/instance.hpp"

#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <functional>
#include <string>
#include <thread>

#include "app/wiring.hpp"
#include "core/log.hpp"
#include "modules/events/routes.hpp"
#include "modules/health/routes.hpp"
#include "modules/iam/routes.hpp"
#include "modules/organizations/routes.hpp"
#include "modules/payments/routes.hpp"
#include "modules/queue/routes.hpp"
#include "modules/ratelimit/policy.hpp"
#include "modules/reservations/routes.hpp"
#include "modules/stream/routes.hpp"
#include "modules/tickets/routes.hpp"
#include "modules/venues/routes.hpp"
#include "modules/web/routes.hpp"

namespace ticketd::app {

namespace asio = boost::asio;

namespace {

constexpr infra::pg::Statement kPing{"health_ping", "SELECT 1"};

int thread_count(const config::Config& c) {
  if (c.http_threads > 0) return c.http_threads;
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 2 : static_cast<int>(hw);
}

// The simulated provider is always registered: verifying its webhooks stays on with the
// simulator off, only its checkout route (which makes money appear) is a development tool.
// Returns it when that route is on.
payments::SimulatedProvider* add_simulated_provider(payments::Providers& providers,
                                                    const config::Config& config) {
  payments::SimulatedOptions o;
  o.secrets = config.webhook_secrets();
  o.tolerance_seconds = config.payment_webhook_tolerance_seconds;
  o.checkout_base = config.api_base() + "/dev/payments";
  auto provider = std::make_unique<payments::SimulatedProvider>(std::move(o));
  payments::SimulatedProvider* simulated =
      config.payment_simulator_enabled() ? provider.get() : nullptr;
  providers.add(std::move(provider));
  return simulated;
}

workers::OutboxPublisher::Options outbox_options(const config::Config& config,
                                                 payments::Service& payments) {
  workers::OutboxPublisher::Options o;
  o.batch_size = config.outbox_publish_batch_size;
  o.interval = config.outbox_publish_interval;
  o.max_attempts = config.outbox_publish_max_attempts;
  o.backoff_base = config.outbox_publish_backoff;
  o.backoff_max = config.outbox_publish_backoff_max;
  o.lease = config.outbox_publish_lease;
  o.retention = std::chrono::hours(config.outbox_retention_hours);
  if (config.payment_webhook_rejected_retention_hours > 0) {
    const std::chrono::hours keep(config.payment_webhook_rejected_retention_hours);
    o.purges.push_back({"rejected payment webhooks", [&payments, keep](int limit) {
                          return payments.purge_rejected_webhooks(keep, limit);
                        }});
  }
  return o;
}

stream::Settings stream_settings(const config::Config& config) {
  stream::Settings s;
  s.heartbeat = config.sse_heartbeat;
  s.client_queue_max = static_cast<std::size_t>(config.sse_client_queue_max);
  s.max_streams = config.sse_max_streams;
  // Both caps are per-client limits: RATE_LIMIT_ENABLED=false lifts them with the others.
  s.max_streams_per_ip = config.rate_limit_enabled ? config.sse_max_streams_per_ip : 0;
  s.max_streams_per_user = config.rate_limit_enabled ? config.sse_max_streams_per_user : 0;
  s.write_timeout = config.sse_write_timeout;
  return s;
}

workers::PaymentSucceededConsumer::Options consumer_options(const config::Config& config) {
  workers::PaymentSucceededConsumer::Options o;
  o.kafka = kafka_options(config);
  o.group_id = config.kafka_consumer_group;
  o.max_attempts = config.consumer_max_attempts;
  o.backoff = config.consumer_backoff;
  o.backoff_max = config.consumer_backoff_max;
  return o;
}

http::Shedder::Limits shedding_limits(const config::Config& c) {
  using http::TrafficClass;
  http::Shedder::Limits limits{};
  auto set = [&limits](TrafficClass k, int n) {
    limits[static_cast<std::size_t>(k)] = static_cast<std::size_t>(n);
  };
  set(TrafficClass::kReads, c.http_max_in_flight_reads);
  set(TrafficClass::kWrites, c.http_max_in_flight_writes);
  set(TrafficClass::kAuth, c.http_max_in_flight_auth);
  set(TrafficClass::kReserve, c.http_max_in_flight_reserve);
  set(TrafficClass::kQueue, c.http_max_in_flight_queue);
  set(TrafficClass::kPayments, c.http_max_in_flight_payments);
  set(TrafficClass::kWebhook, c.http_max_in_flight_webhook);
  return limits;
}

http::ServerOptions server_options(const config::Config& config) {
  http::ServerOptions o;
  o.host = config.host;
  o.port = static_cast<std::uint16_t>(config.port);
  o.body_limit = config.http_body_limit_bytes;
  o.header_timeout = config.http_header_timeout;
  o.body_timeout = config.http_body_timeout;
  o.idle_timeout = config.http_idle_timeout;
  o.max_connections = config.http_max_connections;
  o.max_connections_per_ip = config.http_max_connections_per_ip;
  o.trusted_proxies = config.trusted_proxies;
  return o;
}

// With the publisher in this process, reservations skip the outbox NOTIFY (a database-wide
// commit lock) and wake it directly; otherwise NOTIFY reaches another instance's publisher.
std::function<void()> outbox_waker(const config::Config& config,
                                   workers::OutboxPublisher& publisher) {
  if (!config.workers_enabled) return {};
  return [&publisher] { publisher.wake(); };
}

}  // namespace

Instance::Instance(const config::Config& config)
    : config_(config),
      threads_(thread_count(config)),
      ioc_(threads_),
      work_(asio::make_work_guard(ioc_)),
      pool_(ioc_.get_executor(), pool_options(config), metrics_),
      redis_metrics_(metrics_),
      redis_options_(infra::redis::parse_url(config.redis_url.reveal())),
      redis_(infra::redis::Client::create(asio::make_strand(ioc_), redis_options_, redis_metrics_)),
      hub_(asio::make_strand(ioc_), redis_, redis_options_, metrics_),
      producer_(ioc_.get_executor(), kafka_options(config), metrics_),
      topics_(kafka_options(config), config.kafka_topic_partitions, config.kafka_topic_replication),
      password_pool_(static_cast<std::size_t>(config.auth_hash_threads),
                     static_cast<std::size_t>(config.auth_hash_queue), metrics_, "passwords"),
      limiter_(redis_, metrics_),
      // A live stream's lease is renewed every heartbeat; three missed, it lapses.
      stream_leases_(redis_, 3 * config.sse_heartbeat),
      iam_repo_(pool_),
      iam_(iam_repo_, password_pool_, iam_settings(config)),
      org_repo_(pool_),
      orgs_(org_repo_, config.org_creation == "admin"),
      venue_repo_(pool_),
      venues_(venue_repo_, static_cast<std::size_t>(config.venue_max_seats)),
      event_repo_(pool_),
      seat_maps_(
          event_repo_, hub_,
          events::SeatMapCache::Options{config.seatmap_cache_ttl,
                                        static_cast<std::size_t>(config.seatmap_cache_max_events)},
          metrics_),
      events_(event_repo_, seat_maps_, hub_, events::Settings{config.ga_capacity_slots}),
      queue_repo_(pool_),
      queue_line_(redis_),
      queue_(queue_repo_, queue_line_,
             queue::Passes(config.effective_jwt_secret(), config.jwt_previous_secrets()),
             queue::Settings{std::chrono::seconds(config.queue_admission_ttl_seconds)}, metrics_),
      payment_repo_(pool_, config.db_pool_hot_timeout),
      simulated_(add_simulated_provider(providers_, config)),
      payments_(payment_repo_, providers_, simulated_, events_, metrics_),
      outbox_publisher_(ioc_.get_executor(), pool_, producer_, pool_options(config).connect,
                        outbox_options(config, payments_), metrics_),
      reservation_repo_(
          pool_,
          reservations::Limits{config.reservation_ttl_seconds,
                               config.reservation_max_active_per_user_event,
                               config.reserve_lock_timeout, config.db_pool_hot_timeout},
          outbox_waker(config, outbox_publisher_)),
      reservation_batcher_(
          ioc_.get_executor(), reservation_repo_,
          reservations::BatchOptions{config.reserve_batch_max, config.reserve_batch_concurrency,
                                     config.reserve_batch_window},
          metrics_),
      reservations_(reservation_repo_, reservation_batcher_, events_, metrics_),
      fanout_(std::make_shared<stream::Fanout>(asio::make_strand(ioc_), events_, hub_,
                                               stream_settings(config), metrics_)),
      expiry_(
          ioc_.get_executor(), [this](int n) { return reservations_.expire_batch(n); },
          workers::ReservationExpiry::Options{config.reservation_expiry_interval,
                                              config.reservation_expiry_batch},
          metrics_),
      ticket_repo_(pool_),
      tickets_(ticket_repo_, events_, config.effective_ticket_signing_secret(),
               config.ticket_signing_previous_secrets(), metrics_),
      payment_consumer_(ioc_.get_executor(), tickets_, producer_, consumer_options(config),
                        metrics_),
      health_(readiness_checks(), std::chrono::milliseconds(2'000)),
      outbox_relay_(pool_),
      alerts_(ioc_.get_executor(), alert_rules(),
              health::Alerts::Options{config.alert_sample_interval,
                                      static_cast<std::size_t>(config.alert_min_events)},
              [this] { return probe_for_alerts(); }),
      shedder_(shedding_limits(config), metrics_),
      dispatcher_(routes(), metrics_),
      server_(ioc_, server_options(config), dispatcher_, metrics_) {
  redis_->start();
  hub_.start();
  orgs_.on_rights_changed([this](const std::string& user_id) { iam_.forget_user(user_id); });
  events_.on_event_changed([this](const std::string& event_id) { queue_.forget(event_id); });
  reservations_.admit_with(
      [this](std::string user, std::string event, std::optional<std::string> token) {
        return queue_.gate(std::move(user), std::move(event), std::move(token));
      });
  if (config_.rate_limit_enabled) fanout_->share_caps(stream_leases_);
  fanout_->start();
  // Hot routes wait at most DATABASE_POOL_HOT_TIMEOUT_MS for a connection: once the expected
  // wait passes a quarter of it, they are shed at the door instead of timing out in the pool.
  // The hot requests already past the door count as queued (beyond the pool's size) even before
  // they reach the pool: under a burst they wait for CPU first, and counting only the pool's
  // waiters let too many in (bench/RESULTS.md "Overload"). Batched reservations hold no
  // connection each: they count as the batches they make, and a reservation is also shed when
  // it would wait longer than the whole hot wait for its batch to start (counting each as a pool
  // contender shed most of a batched sale: bench/RESULTS.md "Group commit").
  const auto budget =
      std::chrono::duration_cast<std::chrono::microseconds>(config.db_pool_hot_timeout / 4);
  const auto batch_budget =
      std::chrono::duration_cast<std::chrono::microseconds>(config.db_pool_hot_timeout);
  auto pool_saturated = [this, budget] {
    std::size_t hot = shedder_.in_flight(http::TrafficClass::kPayments) +
                      shedder_.in_flight(http::TrafficClass::kWebhook);
    hot += reservation_batcher_.batching() ? reservation_batcher_.connections_wanted()
                                           : shedder_.in_flight(http::TrafficClass::kReserve);
    return pool_.expected_wait(hot) > budget;
  };
  shedder_.shed_under(http::TrafficClass::kPayments, pool_saturated);
  shedder_.shed_under(http::TrafficClass::kWebhook, pool_saturated);
  shedder_.shed_under(http::TrafficClass::kReserve, [this, pool_saturated, batch_budget] {
    return pool_saturated() ||
           (reservation_batcher_.batching() && reservation_batcher_.expected_wait() > batch_budget);
  });
  dispatcher_.shed_with(shedder_);
  dispatcher_.use(iam::authentication_middleware(iam_));
  if (config_.rate_limit_enabled) limit_rates();
}

// After authentication (a caller's own buckets apply), one Redis call per request.
void Instance::limit_rates() {
  const auto& c = config_;
  ratelimit::Policy policy{
      c.rate_limit_api_ip,       c.rate_limit_auth_ip,    c.rate_limit_login_failures_email,
      c.rate_limit_reserve_user, c.rate_limit_reserve_ip, c.rate_limit_payments_user,
      c.rate_limit_payments_ip,  c.rate_limit_webhook_ip, c.rate_limit_sse_connect_ip};
  dispatcher_.use(ratelimit::middleware(limiter_, policy));
  const core::RateRule failures = c.rate_limit_login_failures_email;
  iam::LoginThrottle throttle;
  throttle.check = [this, failures](std::string email) {
    return ratelimit::check_login(limiter_, failures, std::move(email));
  };
  throttle.failed = [this, failures](std::string email) {
    return ratelimit::record_failed_login(limiter_, failures, std::move(email));
  };
  iam_.throttle_logins(std::move(throttle));
}

// Each check answers quickly and never throws (a failure is "down").
std::vector<health::Check> Instance::readiness_checks() {
  auto check_postgres = [this]() -> asio::awaitable<health::CheckResult> {
    try {
      co_await pool_.query(kPing);
      co_return health::CheckResult{true, "ok"};
    } catch (const std::exception&) {
      co_return health::CheckResult{false, "unreachable"};
    }
  };
  auto check_redis = [this]() -> asio::awaitable<health::CheckResult> {
    try {
      // Built outside the co_await: GCC 12 miscompiles initializer lists inside co_await.
      std::vector<std::string> ping;
      ping.emplace_back("PING");
      auto reply = co_await redis_->command(std::move(ping));
      co_return health::CheckResult{reply.str == "PONG", reply.str};
    } catch (const std::exception&) {
      co_return health::CheckResult{false, "unreachable"};
    }
  };
  auto check_kafka = [this]() -> asio::awaitable<health::CheckResult> {
    if (!producer_.broker_reachable()) co_return health::CheckResult{false, "unreachable"};
    if (!topics_.done()) co_return health::CheckResult{false, "topics not ensured"};
    co_return health::CheckResult{true, "ok"};
  };
  std::vector<health::Check> checks;
  checks.push_back(health::Check{"postgres", check_postgres});
  checks.push_back(health::Check{"redis", check_redis});
  checks.push_back(health::Check{"kafka", check_kafka});
  if (!config_.workers_enabled) return checks;
  auto check_expiry = [this]() -> asio::awaitable<health::CheckResult> {
    co_return health::CheckResult{expiry_.healthy(), expiry_.describe()};
  };
  checks.push_back(health::Check{"reservation_expiry", check_expiry});
  auto check_consumer = [this]() -> asio::awaitable<health::CheckResult> {
    co_return health::CheckResult{payment_consumer_.healthy(), payment_consumer_.describe()};
  };
  checks.push_back(health::Check{"payment_succeeded_consumer", check_consumer});
  auto check_outbox = [this]() -> asio::awaitable<health::CheckResult> {
    co_return health::CheckResult{outbox_publisher_.healthy(), outbox_publisher_.describe()};
  };
  checks.push_back(health::Check{"outbox_publisher", check_outbox});
  return checks;
}

http::Router Instance::routes() {
  const std::string base = config_.api_base();
  venues::RouteSettings venue_settings;
  venue_settings.layout_body_limit = config_.http_layout_body_limit_bytes;
  venue_settings.limits.max_total_seats = static_cast<std::size_t>(config_.venue_max_seats);
  http::Router router;
  health::register_routes(router, base, health_, alerts_, metrics_);
  iam::register_routes(router, base, iam_);
  organizations::register_routes(router, base, orgs_);
  venues::register_routes(router, base, venues_, venue_settings);
  events::register_routes(router, base, events_);
  queue::register_routes(router, base, queue_);
  reservations::register_routes(router, base, reservations_,
                                reservations::RouteSettings{config_.reservation_max_seats});
  tickets::register_routes(router, base, tickets_);
  payments::register_routes(router, base, payments_,
                            payments::RouteSettings{simulated_ != nullptr});
  stream::register_routes(router, base, fanout_);
  web::register_routes(router, config_.api_docs_path);
  std::string listed;
  for (const auto& route : router.describe()) {
    if (!listed.empty()) listed += ", ";
    listed += route;
  }
  core::log::debug("routes registered", {{"count", router.size()}, {"routes", listed}});
  return router;
}

// Granted to the account that exists with that address now; registering it later grants
// nothing (whoever registers first does not own the mailbox).
void Instance::grant_bootstrap_super_admin() {
  if (config_.bootstrap_super_admin_email.empty()) return;
  asio::co_spawn(
      ioc_,
      [this]() -> asio::awaitable<void> {
        try {
          // Named values around co_await: GCC 12 miscompiles temporaries and conditions there.
          std::string email = config_.bootstrap_super_admin_email;
          std::string actor = "bootstrap";
          const bool granted = co_await iam_.grant_super_admin(std::move(email), std::move(actor));
          if (granted) {
            core::log::info("bootstrap super admin ensured");
          } else {
            core::log::warn(
                "BOOTSTRAP_SUPER_ADMIN_EMAIL names no account: register it, then restart (or "
                "run ticketd admin grant-super-admin)");
          }
        } catch (const std::exception& e) {
          core::log::warn("bootstrap super admin not granted yet", {{"error", e.what()}});
        }
      },
      asio::detached);
}

// Graceful shutdown: stop accepting, let requests in flight finish (bounded), then stop the
// clients in reverse order of creation.
void Instance::stop_on_signal(asio::signal_set& signals) {
  signals.async_wait([this](boost::system::error_code ec, int sig) {
    if (ec) return;
    core::log::info("shutting down", {{"signal", sig}});
    server_.begin_shutdown();
    asio::co_spawn(ioc_, shutdown(), asio::detached);
  });
}

asio::awaitable<void> Instance::shutdown() {
  const auto deadline = std::chrono::steady_clock::now() + config_.shutdown_timeout;
  asio::steady_timer t(ioc_);
  while (!server_.stopped() && std::chrono::steady_clock::now() < deadline) {
    t.expires_after(std::chrono::milliseconds(20));
    co_await t.async_wait(asio::use_awaitable);
  }
  core::log::info("http server stopped", {{"openConnections", server_.open_connections()}});
  co_await alerts_.stop();
  if (config_.workers_enabled) {
    co_await expiry_.stop();
    co_await payment_consumer_.stop(std::chrono::seconds(15));
    // Before the producer closes (after the I/O threads): the batch in flight still needs the
    // producer and the pool to settle.
    co_await outbox_publisher_.stop();
    core::log::info("workers stopped");
  }
  co_await fanout_->async_stop();
  core::log::info("live seat maps stopped");
  co_await hub_.async_stop();
  co_await redis_->async_stop();
  core::log::info("redis client stopped");
  pool_.close();
  core::log::info("database pool closed");
  work_.reset();
  ioc_.stop();
}

int Instance::run() {
  grant_bootstrap_super_admin();
  alerts_.start();
  if (config_.workers_enabled) {
    expiry_.start();
    payment_consumer_.start();
    outbox_publisher_.start();
  }
  try {
    server_.start();
  } catch (const std::exception& e) {
    core::log::error("cannot listen",
                     {{"host", config_.host}, {"port", config_.port}, {"error", e.what()}});
    redis_->stop();
    pool_.close();
    return 1;
  }
  if (simulated_ != nullptr) {
    // Known only now (PORT=0 picks a free port): the simulator calls this instance itself.
    simulated_->set_webhook_url(config_.payment_simulator_webhook_url.empty()
                                    ? "http://127.0.0.1:" + std::to_string(server_.port()) +
                                          config_.api_base() + "/payments/webhook"
                                    : config_.payment_simulator_webhook_url);
  }
  core::log::info("listening", {{"host", config_.host},
                                {"port", server_.port()},
                                {"threads", threads_},
                                {"apiBase", config_.api_base()},
                                {"env", config_.node_env}});
  asio::signal_set signals(ioc_, SIGINT, SIGTERM);
  stop_on_signal(signals);

  std::vector<std::thread> io_threads;
  for (int i = 1; i < threads_; ++i) io_threads.emplace_back([this] { ioc_.run(); });
  ioc_.run();
  for (auto& t : io_threads) t.join();
  producer_.close(std::chrono::seconds(5));
  core::log::info("kafka producer flushed; stopped");
  return 0;
}

}  // namespace ticketd::app
