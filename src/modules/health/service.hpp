#pragma once
// Readiness is the conjunction of named dependency checks (PostgreSQL, Redis, Kafka, worker
// heartbeats) wired in by the application; this module knows none of them by type.
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace ticketd::health {

struct CheckResult {
  bool ok = false;
  std::string detail;  // short, safe to show (never a connection string or secret)
  double latency_ms = 0;
};

struct Check {
  std::string name;
  // Must finish quickly (the service bounds it with a deadline anyway) and must not throw.
  std::function<boost::asio::awaitable<CheckResult>()> run;
};

struct Readiness {
  bool ok = true;
  std::vector<std::pair<std::string, CheckResult>> checks;
};

class Service {
 public:
  Service(std::vector<Check> checks, std::chrono::milliseconds deadline)
      : checks_(std::move(checks)), deadline_(deadline) {}

  // Runs every check concurrently; a check that exceeds the deadline counts as failed.
  boost::asio::awaitable<Readiness> readiness() const;

 private:
  std::vector<Check> checks_;
  std::chrono::milliseconds deadline_;
};

}  // namespace ticketd::health
