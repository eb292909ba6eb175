#include "app/app.hpp"

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_future.hpp>
#include <condition_variable>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "app/topics.hpp"
#include "app/wiring.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "http/dispatcher.hpp"
#include "http/router.hpp"
#include "http/server.hpp"
#include "infra/kafka/admin.hpp"
#include "infra/kafka/producer.hpp"
#include "infra/pg/migrations.hpp"
#include "infra/pg/pool.hpp"
#include "infra/redis/client.hpp"
#include "infra/redis/metrics.hpp"
#include "infra/redis/options.hpp"
#include "modules/events/repository.hpp"
#include "modules/events/routes.hpp"
#include "modules/events/seat_map.hpp"
#include "modules/events/service.hpp"
#include "modules/health/routes.hpp"
#include "modules/health/service.hpp"
#include "modules/iam/repository.hpp"
#include "modules/iam/routes.hpp"
#include "modules/iam/service.hpp"
#include "modules/organizations/repository.hpp"
#include "modules/organizations/routes.hpp"
#include "modules/organizations/service.hpp"
#include "modules/payments/repository.hpp"
#include "modules/payments/routes.hpp"
#include "modules/payments/service.hpp"
#include "modules/payments/simulated.hpp"
#include "modules/realtime/hub.hpp"
#include "modules/reservations/repository.hpp"
#include "modules/reservations/routes.hpp"
#include "modules/reservations/service.hpp"
#include "modules/stream/fanout.hpp"
#include "modules/stream/routes.hpp"
#include "modules/tickets/repository.hpp"
#include "modules/tickets/routes.hpp"
#include "modules/tickets/service.hpp"
#include "modules/venues/repository.hpp"
#include "modules/venues/routes.hpp"
#include "modules/venues/service.hpp"
#include "modules/web/routes.hpp"
#include "workers/outbox_publisher.hpp"
#include "workers/payment_succeeded_consumer.hpp"
#include "workers/reservation_expiry.hpp"

namespace ticketd::app {

namespace asio = boost::asio;

namespace {

constexpr infra::pg::Statement kPing{"health_ping", "SELECT 1"};

int thread_count(const config::Config& c) {
  if (c.http_threads > 0) return c.http_threads;
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 2 : static_cast<int>(hw);
}

// Ensures the Kafka topics off the I/O threads, retrying while the broker is unreachable so the
// API can start (and report not-ready) before Kafka does.
class TopicEnsurer {
 public:
  TopicEnsurer(infra::kafka::Options options, int partitions, int replication)
      : thread_([this, options = std::move(options), partitions, replication] {
          run(options, partitions, replication);
        }) {}
  ~TopicEnsurer() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  bool done() const noexcept { return done_.load(); }

 private:
  void run(const infra::kafka::Options& options, int partitions, int replication) {
    auto backoff = std::chrono::milliseconds(500);
    for (;;) {
      try {
        infra::kafka::Admin admin(options);
        admin.ensure_topics(all_topics(), partitions, replication, std::chrono::seconds(10));
        done_.store(true);
        core::log::info("kafka topics ensured", {{"count", all_topics().size()}});
        return;
      } catch (const std::exception& e) {
        core::log::warn("kafka topics not ensured yet", {{"error", e.what()}});
      }
      std::unique_lock lock(mutex_);
      if (cv_.wait_for(lock, backoff, [this] { return stopping_; })) return;
      backoff = std::min(backoff * 2, std::chrono::milliseconds(10'000));
    }
  }

  std::atomic<bool> done_{false};
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts after the members it uses exist
};

}  // namespace

infra::pg::PoolOptions pool_options(const config::Config& c) {
  infra::pg::PoolOptions o;
  o.connect.url = c.database_url.reveal();
  o.connect.connect_timeout = c.db_connect_timeout;
  o.connect.statement_timeout = c.db_statement_timeout;
  o.max_size = static_cast<std::size_t>(c.db_pool_size);
  o.wait_timeout = c.db_pool_timeout;
  return o;
}

infra::kafka::Options kafka_options(const config::Config& c) {
  infra::kafka::Options o;
  o.brokers = c.kafka_brokers;
  o.client_id = c.kafka_client_id;
  return o;
}

iam::Settings iam_settings(const config::Config& c) {
  iam::Settings s;
  s.tokens.secret = c.effective_jwt_secret();
  s.tokens.issuer = c.jwt_issuer;
  s.tokens.audience = c.jwt_audience;
  // Validated by config::load, so the parses succeed.
  s.tokens.access_ttl_seconds = iam::parse_duration_seconds(c.jwt_expires_in).value_or(900);
  s.refresh_ttl_seconds =
      iam::parse_duration_seconds(c.jwt_refresh_expires_in).value_or(30 * 86400);
  s.principal_cache_ttl = c.auth_cache_ttl;
  return s;
}

int migrate(const config::Config& config) {
  asio::io_context ioc(1);
  core::metrics::Registry metrics;
  infra::pg::Pool pool(ioc.get_executor(), pool_options(config), metrics);
  auto fut = asio::co_spawn(
      ioc,
      infra::pg::migrate(pool, infra::pg::embedded_migrations(), infra::pg::embedded_functions()),
      asio::use_future);
  ioc.run();
  try {
    const auto report = fut.get();
    core::log::info("migrations done", {{"applied", report.applied.size()},
                                        {"alreadyApplied", report.already_applied},
                                        {"functionsApplied", report.functions_applied.size()}});
    return 0;
  } catch (const std::exception& e) {
    core::log::error("migrations failed", {{"error", e.what()}});
    return 1;
  }
}

int grant_super_admin(const config::Config& config, const std::string& email) {
  asio::io_context ioc(1);
  core::metrics::Registry metrics;
  infra::pg::Pool pool(ioc.get_executor(), pool_options(config), metrics);
  core::CpuPool cpu(1, 1, metrics, "admin");
  iam::Repository repo(pool);
  iam::Service service(repo, cpu, iam_settings(config));
  std::string actor = "cli";
  auto fut =
      asio::co_spawn(ioc, service.grant_super_admin(email, std::move(actor)), asio::use_future);
  ioc.run();
  try {
    if (!fut.get()) {
      std::cerr << "no user with that email\n";
      return 1;
    }
    core::log::info("super admin granted", {{"by", "cli"}});
    return 0;
  } catch (const std::exception& e) {
    core::log::error("grant failed", {{"error", e.what()}});
    return 1;
  }
}

int serve(const config::Config& config) {
  const int threads = thread_count(config);
  asio::io_context ioc(threads);
  auto work = asio::make_work_guard(ioc);
  core::metrics::Registry metrics;

  infra::pg::Pool pool(ioc.get_executor(), pool_options(config), metrics);

  infra::redis::Metrics redis_metrics(metrics);
  const auto redis_options = infra::redis::parse_url(config.redis_url.reveal());
  auto redis = infra::redis::Client::create(asio::make_strand(ioc), redis_options, redis_metrics);
  redis->start();
  realtime::Hub hub(asio::make_strand(ioc), redis, redis_options, metrics);
  hub.start();

  infra::kafka::Producer producer(ioc.get_executor(), kafka_options(config), metrics);
  TopicEnsurer topics(kafka_options(config), config.kafka_topic_partitions,
                      config.kafka_topic_replication);

  core::CpuPool password_pool(static_cast<std::size_t>(config.auth_hash_threads),
                              static_cast<std::size_t>(config.auth_hash_queue), metrics,
                              "passwords");
  iam::Repository iam_repo(pool);
  iam::Service iam_service(iam_repo, password_pool, iam_settings(config));
  organizations::Repository org_repo(pool);
  organizations::Service org_service(org_repo, config.org_creation == "admin");
  org_service.on_rights_changed(
      [&iam_service](const std::string& user_id) { iam_service.forget_user(user_id); });
  venues::Repository venue_repo(pool);
  venues::Service venue_service(venue_repo, static_cast<std::size_t>(config.venue_max_seats));
  venues::RouteSettings venue_settings;
  venue_settings.layout_body_limit = config.http_layout_body_limit_bytes;
  venue_settings.limits.max_total_seats = static_cast<std::size_t>(config.venue_max_seats);
  events::Repository event_repo(pool);
  events::SeatMapCache seat_maps(
      event_repo, hub,
      events::SeatMapCache::Options{config.seatmap_cache_ttl,
                                    static_cast<std::size_t>(config.seatmap_cache_max_events)},
      metrics);
  events::Service event_service(event_repo, seat_maps, hub,
                                events::Settings{config.ga_capacity_slots});
  payments::Repository payment_repo(pool);
  payments::Providers providers;
  payments::SimulatedProvider* simulated = nullptr;
  {
    payments::SimulatedOptions o;
    o.secrets = config.webhook_secrets();
    o.tolerance_seconds = config.payment_webhook_tolerance_seconds;
    o.checkout_base = config.api_base() + "/dev/payments";
    auto provider = std::make_unique<payments::SimulatedProvider>(std::move(o));
    // Verifying simulated webhooks stays on with the simulator off: only the checkout route
    // (which makes money appear) is a development tool.
    if (config.payment_simulator_enabled()) simulated = provider.get();
    providers.add(std::move(provider));
  }
  payments::Service payment_service(payment_repo, providers, simulated, event_service, metrics);
  workers::OutboxPublisher::Options outbox_options;
  outbox_options.batch_size = config.outbox_publish_batch_size;
  outbox_options.interval = config.outbox_publish_interval;
  outbox_options.max_attempts = config.outbox_publish_max_attempts;
  outbox_options.backoff_base = config.outbox_publish_backoff;
  outbox_options.backoff_max = config.outbox_publish_backoff_max;
  outbox_options.lease = config.outbox_publish_lease;
  outbox_options.retention = std::chrono::hours(config.outbox_retention_hours);
  if (config.payment_webhook_rejected_retention_hours > 0) {
    const std::chrono::hours keep(config.payment_webhook_rejected_retention_hours);
    outbox_options.purges.push_back(
        {"rejected payment webhooks", [&payment_service, keep](int limit) {
           return payment_service.purge_rejected_webhooks(keep, limit);
         }});
  }
  workers::OutboxPublisher outbox_publisher(ioc.get_executor(), pool, producer,
                                            pool_options(config).connect, std::move(outbox_options),
                                            metrics);
  // With the publisher in this process, reservations skip the outbox NOTIFY (a database-wide
  // commit lock) and wake it directly; otherwise NOTIFY reaches another instance's publisher.
  std::function<void()> wake_outbox;
  if (config.workers_enabled) wake_outbox = [&outbox_publisher] { outbox_publisher.wake(); };
  reservations::Repository reservation_repo(
      pool,
      reservations::Limits{config.reservation_ttl_seconds,
                           config.reservation_max_active_per_user_event,
                           config.reserve_lock_timeout},
      std::move(wake_outbox));
  reservations::Service reservation_service(reservation_repo, event_service, metrics);
  stream::Settings stream_settings;
  stream_settings.heartbeat = config.sse_heartbeat;
  stream_settings.client_queue_max = static_cast<std::size_t>(config.sse_client_queue_max);
  stream_settings.max_streams = config.sse_max_streams;
  stream_settings.max_streams_per_ip = config.sse_max_streams_per_ip;
  stream_settings.write_timeout = config.sse_write_timeout;
  auto fanout = std::make_shared<stream::Fanout>(asio::make_strand(ioc), event_service, hub,
                                                 stream_settings, metrics);
  fanout->start();
  workers::ReservationExpiry expiry(
      ioc.get_executor(), reservation_service,
      workers::ReservationExpiry::Options{config.reservation_expiry_interval,
                                          config.reservation_expiry_batch},
      metrics);
  tickets::Repository ticket_repo(pool);
  tickets::Service ticket_service(ticket_repo, event_service,
                                  config.effective_ticket_signing_secret(), metrics);
  workers::PaymentSucceededConsumer::Options consumer_options;
  consumer_options.kafka = kafka_options(config);
  consumer_options.group_id = config.kafka_consumer_group;
  consumer_options.max_attempts = config.consumer_max_attempts;
  consumer_options.backoff = config.consumer_backoff;
  consumer_options.backoff_max = config.consumer_backoff_max;
  workers::PaymentSucceededConsumer payment_consumer(ioc.get_executor(), ticket_service, producer,
                                                     std::move(consumer_options), metrics);
  // Readiness checks: each answers quickly and never throws (a failure is "down").
  auto check_postgres = [&pool]() -> asio::awaitable<health::CheckResult> {
    try {
      co_await pool.query(kPing);
      co_return health::CheckResult{true, "ok"};
    } catch (const std::exception&) {
      co_return health::CheckResult{false, "unreachable"};
    }
  };
  auto check_redis = [&redis]() -> asio::awaitable<health::CheckResult> {
    try {
      // Built outside the co_await: GCC 12 miscompiles initializer lists inside co_await.
      std::vector<std::string> ping;
      ping.emplace_back("PING");
      auto reply = co_await redis->command(std::move(ping));
      co_return health::CheckResult{reply.str == "PONG", reply.str};
    } catch (const std::exception&) {
      co_return health::CheckResult{false, "unreachable"};
    }
  };
  auto check_kafka = [&producer, &topics]() -> asio::awaitable<health::CheckResult> {
    if (!producer.broker_reachable()) co_return health::CheckResult{false, "unreachable"};
    if (!topics.done()) co_return health::CheckResult{false, "topics not ensured"};
    co_return health::CheckResult{true, "ok"};
  };
  std::vector<health::Check> checks;
  checks.push_back(health::Check{"postgres", check_postgres});
  checks.push_back(health::Check{"redis", check_redis});
  checks.push_back(health::Check{"kafka", check_kafka});
  if (config.workers_enabled) {
    auto check_expiry = [&expiry]() -> asio::awaitable<health::CheckResult> {
      co_return health::CheckResult{expiry.healthy(), expiry.describe()};
    };
    checks.push_back(health::Check{"reservation_expiry", check_expiry});
    auto check_consumer = [&payment_consumer]() -> asio::awaitable<health::CheckResult> {
      co_return health::CheckResult{payment_consumer.healthy(), payment_consumer.describe()};
    };
    checks.push_back(health::Check{"payment_succeeded_consumer", check_consumer});
    auto check_outbox = [&outbox_publisher]() -> asio::awaitable<health::CheckResult> {
      co_return health::CheckResult{outbox_publisher.healthy(), outbox_publisher.describe()};
    };
    checks.push_back(health::Check{"outbox_publisher", check_outbox});
  }
  health::Service health_service(std::move(checks), std::chrono::milliseconds(2'000));

  if (!config.bootstrap_super_admin_email.empty()) {
    // Granted to the account that exists with that address now; registering it later grants
    // nothing (SPEC §1: whoever registers first does not own the mailbox).
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
          try {
            // Named values around co_await: GCC 12 miscompiles temporaries and conditions there.
            std::string email = config.bootstrap_super_admin_email;
            std::string actor = "bootstrap";
            const bool granted =
                co_await iam_service.grant_super_admin(std::move(email), std::move(actor));
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

  if (config.workers_enabled) {
    expiry.start();
    payment_consumer.start();
    outbox_publisher.start();
  }

  http::Router router;
  health::register_routes(router, config.api_base(), health_service, metrics);
  iam::register_routes(router, config.api_base(), iam_service);
  organizations::register_routes(router, config.api_base(), org_service);
  venues::register_routes(router, config.api_base(), venue_service, venue_settings);
  events::register_routes(router, config.api_base(), event_service);
  reservations::register_routes(router, config.api_base(), reservation_service,
                                reservations::RouteSettings{config.reservation_max_seats});
  tickets::register_routes(router, config.api_base(), ticket_service);
  payments::register_routes(router, config.api_base(), payment_service,
                            payments::RouteSettings{simulated != nullptr});
  stream::register_routes(router, config.api_base(), fanout);
  web::register_routes(router);
  http::Dispatcher dispatcher(std::move(router), metrics);
  dispatcher.use(iam::authentication_middleware(iam_service));

  http::ServerOptions server_options;
  server_options.host = config.host;
  server_options.port = static_cast<std::uint16_t>(config.port);
  server_options.body_limit = config.http_body_limit_bytes;
  server_options.header_timeout = config.http_header_timeout;
  server_options.body_timeout = config.http_body_timeout;
  server_options.idle_timeout = config.http_idle_timeout;
  server_options.max_connections = config.http_max_connections;
  server_options.max_connections_per_ip = config.http_max_connections_per_ip;
  http::Server server(ioc, server_options, dispatcher, metrics);
  try {
    server.start();
  } catch (const std::exception& e) {
    core::log::error("cannot listen",
                     {{"host", config.host}, {"port", config.port}, {"error", e.what()}});
    redis->stop();
    pool.close();
    return 1;
  }
  if (simulated != nullptr) {
    // Known only now (PORT=0 picks a free port): the simulator calls this instance itself.
    simulated->set_webhook_url(config.payment_simulator_webhook_url.empty()
                                   ? "http://127.0.0.1:" + std::to_string(server.port()) +
                                         config.api_base() + "/payments/webhook"
                                   : config.payment_simulator_webhook_url);
  }
  core::log::info("listening", {{"host", config.host},
                                {"port", server.port()},
                                {"threads", threads},
                                {"apiBase", config.api_base()},
                                {"env", config.node_env}});

  // Graceful shutdown: stop accepting, let requests in flight finish (bounded), then stop the
  // clients in reverse order of creation.
  asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](boost::system::error_code ec, int sig) {
    if (ec) return;
    core::log::info("shutting down", {{"signal", sig}});
    server.begin_shutdown();
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
          const auto deadline = std::chrono::steady_clock::now() + config.shutdown_timeout;
          asio::steady_timer t(ioc);
          while (!server.stopped() && std::chrono::steady_clock::now() < deadline) {
            t.expires_after(std::chrono::milliseconds(20));
            co_await t.async_wait(asio::use_awaitable);
          }
          core::log::info("http server stopped", {{"openConnections", server.open_connections()}});
          if (config.workers_enabled) {
            co_await expiry.stop();
            co_await payment_consumer.stop(std::chrono::seconds(15));
            // Before the producer closes (after the I/O threads): the batch in flight still
            // needs the producer and the pool to settle.
            co_await outbox_publisher.stop();
            core::log::info("workers stopped");
          }
          co_await fanout->async_stop();
          core::log::info("live seat maps stopped");
          co_await hub.async_stop();
          co_await redis->async_stop();
          core::log::info("redis client stopped");
          pool.close();
          core::log::info("database pool closed");
          work.reset();
          ioc.stop();
        },
        asio::detached);
  });

  std::vector<std::thread> pool_threads;
  for (int i = 1; i < threads; ++i) pool_threads.emplace_back([&ioc] { ioc.run(); });
  ioc.run();
  for (auto& t : pool_threads) t.join();
  producer.close(std::chrono::seconds(5));
  core::log::info("kafka producer flushed; stopped");
  return 0;
}

}  // namespace ticketd::app
