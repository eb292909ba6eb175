#pragma once
// Composition root: builds infrastructure, modules and the HTTP server from a Config, runs them,
// and tears them down in reverse order.
#include <string>

#include "config/config.hpp"

namespace ticketd::app {

// `ticketd serve`: the API, and the background workers unless WORKERS_ENABLED=false, until
// SIGINT/SIGTERM. Returns the exit code.
int serve(const config::Config& config);
// `ticketd migrate`: applies pending migrations, then the changed files of sql/functions, and
// exits.
int migrate(const config::Config& config);
// `ticketd admin grant-super-admin EMAIL`: grants SUPER_ADMIN to an existing account; the only
// way besides BOOTSTRAP_SUPER_ADMIN_EMAIL at start-up.
int grant_super_admin(const config::Config& config, const std::string& email);
// `ticketd seed-demo`: the demo organization, users, venue and published event (idempotent).
int seed_demo(const config::Config& config);

}  // namespace ticketd::app
