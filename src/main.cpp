// ticketd: picks the subcommand, loads the configuration, hands over to app/.
#include <sodium.h>

#include <iostream>
#include <string_view>

#include "app/app.hpp"
#include "config/config.hpp"
#include "core/log.hpp"

namespace {

constexpr std::string_view kUsage =
    "usage: ticketd <command>\n"
    "  serve          run the HTTP API until SIGINT/SIGTERM\n"
    "  migrate        apply pending database migrations\n"
    "  seed-demo      create the demo organization, users, venue and event (idempotent)\n"
    "  config-check   validate the configuration and list every problem\n"
    "  admin grant-super-admin EMAIL\n"
    "                 make an existing user a platform administrator\n";

}  // namespace

int main(int argc, char** argv) {
  using namespace ticketd;
  if (argc < 2) {
    std::cerr << kUsage;
    return 2;
  }
  const std::string_view command = argv[1];
  if (command == "help" || command == "--help" || command == "-h") {
    std::cout << kUsage;
    return 0;
  }
  if (sodium_init() < 0) {
    std::cerr << "libsodium failed to initialise\n";
    return 1;
  }

  const auto env = config::process_environment();
  std::vector<std::string> problems;
  const auto dotenv = config::read_dotenv_file(env, problems);
  auto loaded = config::load(env, dotenv);
  problems.insert(problems.end(), loaded.errors.begin(), loaded.errors.end());
  // Schema changes and the admin command hold no tokens, tickets or webhooks.
  const bool needs_secrets = command != "migrate" && command != "admin";
  if (needs_secrets) {
    problems.insert(problems.end(), loaded.missing_secrets.begin(), loaded.missing_secrets.end());
  }
  if (!problems.empty()) {
    std::cerr << "invalid configuration (" << problems.size() << " problem"
              << (problems.size() == 1 ? "" : "s") << "):\n";
    for (const auto& p : problems) std::cerr << "  - " << p << "\n";
    if (needs_secrets && !loaded.missing_secrets.empty()) {
      std::cerr << "NODE_ENV is " << loaded.config.node_env
                << (env.contains("NODE_ENV") || dotenv.contains("NODE_ENV") ? "" : " (the default)")
                << ": set the secrets above, or NODE_ENV=development for a local run with "
                   "development-only secrets\n";
    }
    return 1;
  }
  const auto& cfg = loaded.config;
  core::log::Level level = core::log::Level::kInfo;
  core::log::parse_level(cfg.log_level, level);
  core::log::init(level);
  for (const auto& w : loaded.warnings) core::log::warn(w);

  int rc = 2;
  if (command == "serve") {
    rc = app::serve(cfg);
  } else if (command == "migrate") {
    rc = app::migrate(cfg);
  } else if (command == "seed-demo") {
    rc = app::seed_demo(cfg);
  } else if (command == "admin") {
    if (argc == 4 && std::string_view(argv[2]) == "grant-super-admin") {
      rc = app::grant_super_admin(cfg, argv[3]);
    } else {
      std::cerr << kUsage;
    }
  } else if (command == "config-check") {
    std::cout << "configuration is valid (" << config::known_variables().size()
              << " variables understood)\n";
    rc = 0;
  } else {
    std::cerr << "unknown command: " << command << "\n" << kUsage;
  }
  core::log::shutdown();
  return rc;
}
