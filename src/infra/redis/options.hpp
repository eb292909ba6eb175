#pragma once
// Where and how to reach Redis, and how patiently. Shared by the command Client and the Subscriber.
#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

namespace ticketd::infra::redis {

struct Options {
  std::string host = "127.0.0.1";  // a name is resolved off the I/O threads before each attempt
  int port = 6379;
  std::string password;  // sent with AUTH; never logged and never part of an error message
  int db = 0;            // SELECTed after connecting when not 0 (ignored by pub/sub)
  // Covers resolve + TCP connect + AUTH/SELECT/PING; hiredis 0.14 has no async connect timeout.
  std::chrono::milliseconds connect_timeout{1000};
  // Longest wait for a reply. A command that misses it fails, and the connection is recycled
  // (replies are ordered, so everything behind a stuck command would time out too).
  std::chrono::milliseconds command_timeout{1000};
  std::chrono::milliseconds reconnect_min{100};   // first delay after a loss
  std::chrono::milliseconds reconnect_max{5000};  // cap of the exponential backoff
  std::string username;  // Redis 6 ACL user (AUTH user password); empty = the default user
  // Commands sent but not yet answered on the command connection; more fail fast as unavailable
  // instead of queueing without bound behind a slow server.
  std::size_t max_in_flight = 10000;
};

// Parses `redis://[[user]:password@]host[:port][/db]` (user and password percent-decoded, IPv6
// hosts in brackets). Throws std::invalid_argument naming the part that is wrong; the message never
// quotes the URL or any part of it, so it cannot leak the password.
Options parse_url(std::string_view url);

// Throws std::invalid_argument when a field is out of range (port, db, timeouts, backoff bounds).
void validate(const Options& options);

// "host:port/db" for logs: never the user or the password.
std::string describe(const Options& options);

// Delay before reconnect attempt number `attempt` (0 = first after a failure): reconnect_min
// doubled per attempt, capped at reconnect_max, then scaled into [50 %, 100 %] by `jitter`
// in [0, 1] so that many instances losing Redis together do not reconnect in lockstep.
std::chrono::milliseconds reconnect_delay(const Options& options, unsigned attempt, double jitter);

}  // namespace ticketd::infra::redis
