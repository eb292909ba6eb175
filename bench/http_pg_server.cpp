// Serves GET /health/live (no I/O) and GET /db (one prepared PostgreSQL round trip) through
// ticketd's own server, dispatcher, envelope and pool. Used by bench/run; prints its port.
#include <sodium.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/json/object.hpp>
#include <iostream>
#include <thread>

#include "config/config.hpp"
#include "core/log.hpp"
#include "http/envelope.hpp"
#include "http/server.hpp"
#include "infra/pg/pool.hpp"

using namespace ticketd;
namespace asio = boost::asio;

int main() {
  if (sodium_init() < 0) return 1;
  const auto env = config::process_environment();
  auto loaded = config::load(env, {});
  if (!loaded.errors.empty()) {
    for (const auto& e : loaded.errors) std::cerr << e << "\n";
    return 1;
  }
  const auto& cfg = loaded.config;
  core::log::Level level = core::log::Level::kInfo;
  core::log::parse_level(cfg.log_level, level);
  core::log::init(level);
  const int threads = cfg.http_threads > 0 ? cfg.http_threads : 2;
  asio::io_context ioc(threads);
  core::metrics::Registry metrics;

  infra::pg::PoolOptions po;
  po.connect.url = cfg.database_url.reveal();
  po.max_size = static_cast<std::size_t>(cfg.db_pool_size);
  po.wait_timeout = cfg.db_pool_timeout;
  infra::pg::Pool pool(ioc.get_executor(), po, metrics);

  static constexpr infra::pg::Statement kSelect{"bench_select", "SELECT 1"};
  http::Router router;
  router.add(http::bhttp::verb::get, "/health/live",
             [](http::Request& req) -> asio::awaitable<http::Response> {
               co_return http::ok(req, boost::json::object{{"status", "ok"}});
             });
  router.add(http::bhttp::verb::get, "/db",
             [&pool](http::Request& req) -> asio::awaitable<http::Response> {
               auto r = co_await pool.query(kSelect);
               co_return http::ok(req, boost::json::object{{"value", r.int64(0, 0)}});
             });
  http::Dispatcher dispatcher(std::move(router), metrics);
  http::ServerOptions so;
  so.host = "127.0.0.1";
  so.port = static_cast<std::uint16_t>(cfg.port);
  http::Server server(ioc, so, dispatcher, metrics);
  server.start();
  std::cerr << "port " << server.port() << std::endl;

  asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](auto, int) {
    server.begin_shutdown();
    pool.close();
    ioc.stop();
  });
  std::vector<std::thread> pool_threads;
  for (int i = 1; i < threads; ++i) pool_threads.emplace_back([&] { ioc.run(); });
  ioc.run();
  for (auto& t : pool_threads) t.join();
  core::log::shutdown();
  return 0;
}
