#pragma once
// One running `ticketd serve`: the infrastructure clients, the modules, the workers and the HTTP
// server, as members built in dependency order (each one's constructor may use those declared
// above it) and destroyed in reverse. app::serve() builds one and runs it.
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <memory>
#include <vector>

#include "app/topics.hpp"
#include "config/config.hpp"
#include "core/cpu_pool.hpp"
#include "core/metrics.hpp"
#include "http/dispatcher.hpp"
#include "http/router.hpp"
#include "http/server.hpp"
#include "infra/kafka/producer.hpp"
#include "infra/outbox/relay.hpp"
#include "infra/pg/pool.hpp"
#include "infra/redis/client.hpp"
#include "infra/redis/metrics.hpp"
#include "infra/redis/options.hpp"
#include "modules/events/repository.hpp"
#include "modules/events/seat_map.hpp"
#include "modules/events/service.hpp"
#include "modules/health/alerts.hpp"
#include "modules/health/service.hpp"
#include "modules/iam/repository.hpp"
#include "modules/iam/service.hpp"
#include "modules/organizations/repository.hpp"
#include "modules/organizations/service.hpp"
#include "modules/payments/repository.hpp"
#include "modules/payments/service.hpp"
#include "modules/payments/simulated.hpp"
#include "modules/queue/line.hpp"
#include "modules/queue/repository.hpp"
#include "modules/queue/service.hpp"
#include "modules/ratelimit/limiter.hpp"
#include "modules/ratelimit/streams.hpp"
#include "modules/realtime/hub.hpp"
#include "modules/reservations/repository.hpp"
#include "modules/reservations/service.hpp"
#include "modules/stream/fanout.hpp"
#include "modules/tickets/repository.hpp"
#include "modules/tickets/service.hpp"
#include "modules/venues/repository.hpp"
#include "modules/venues/service.hpp"
#include "workers/outbox_publisher.hpp"
#include "workers/payment_succeeded_consumer.hpp"
#include "workers/reservation_expiry.hpp"

namespace ticketd::app {

class Instance {
 public:
  explicit Instance(const config::Config& config);
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;

  // Listens, starts the workers, serves until SIGINT/SIGTERM and shuts down gracefully.
  // Returns the exit code (1 when the port cannot be bound).
  int run();

 private:
  std::vector<health::Check> readiness_checks();
  // app/alerts.cpp: the /health/alerts rules' sources, and the probe that refreshes the ones
  // that need I/O.
  std::vector<health::AlertRule> alert_rules();
  boost::asio::awaitable<void> probe_for_alerts();
  void limit_rates();
  http::Router routes();
  void grant_bootstrap_super_admin();
  void stop_on_signal(boost::asio::signal_set& signals);
  boost::asio::awaitable<void> shutdown();

  const config::Config& config_;
  const int threads_;
  boost::asio::io_context ioc_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  core::metrics::Registry metrics_;

  // Infrastructure.
  infra::pg::Pool pool_;
  infra::redis::Metrics redis_metrics_;
  const infra::redis::Options redis_options_;
  std::shared_ptr<infra::redis::Client> redis_;
  realtime::Hub hub_;
  infra::kafka::Producer producer_;
  TopicEnsurer topics_;
  core::CpuPool password_pool_;
  ratelimit::Limiter limiter_;
  ratelimit::StreamLeases stream_leases_;

  // Modules.
  iam::Repository iam_repo_;
  iam::Service iam_;
  organizations::Repository org_repo_;
  organizations::Service orgs_;
  venues::Repository venue_repo_;
  venues::Service venues_;
  events::Repository event_repo_;
  events::SeatMapCache seat_maps_;
  events::Service events_;
  queue::Repository queue_repo_;
  queue::Line queue_line_;
  queue::Service queue_;
  payments::Repository payment_repo_;
  payments::Providers providers_;
  payments::SimulatedProvider* simulated_;  // owned by providers_; null with the simulator off
  payments::Service payments_;

  // The outbox publisher before reservations: their repository wakes it after each commit.
  workers::OutboxPublisher outbox_publisher_;
  reservations::Repository reservation_repo_;
  reservations::Batcher reservation_batcher_;
  reservations::Service reservations_;
  std::shared_ptr<stream::Fanout> fanout_;
  workers::ReservationExpiry expiry_;
  tickets::Repository ticket_repo_;
  tickets::Service tickets_;
  workers::PaymentSucceededConsumer payment_consumer_;
  health::Service health_;
  // What probe_for_alerts() last measured.
  infra::outbox::Relay outbox_relay_;
  std::atomic<double> failing_checks_{0};
  std::atomic<double> outbox_age_seconds_{0};
  std::atomic<double> expiry_lag_seconds_{0};
  health::Alerts alerts_;

  // HTTP.
  http::Shedder shedder_;
  http::Dispatcher dispatcher_;
  http::Server server_;
};

}  // namespace ticketd::app
