#include "app/app.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <iostream>

#include "app/instance.hpp"
#include "app/wiring.hpp"
#include "core/cpu_pool.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "infra/pg/migrations.hpp"
#include "infra/pg/pool.hpp"
#include "modules/iam/repository.hpp"
#include "modules/iam/service.hpp"

namespace ticketd::app {

namespace asio = boost::asio;

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
  s.tokens.previous_secrets = c.jwt_previous_secrets();
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
  Instance instance(config);
  return instance.run();
}

}  // namespace ticketd::app
