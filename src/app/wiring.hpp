#pragma once
// Settings derived from the Config, shared by the subcommands of the composition root.
#include "config/config.hpp"
#include "infra/kafka/options.hpp"
#include "infra/pg/pool.hpp"
#include "modules/iam/service.hpp"

namespace ticketd::app {

infra::pg::PoolOptions pool_options(const config::Config& c);
infra::kafka::Options kafka_options(const config::Config& c);
iam::Settings iam_settings(const config::Config& c);

}  // namespace ticketd::app
