#pragma once
// Internal plumbing shared by Producer, Consumer and Admin: building a librdkafka configuration
// from Options and routing librdkafka's log lines and client errors into core::log.
#include <librdkafka/rdkafka.h>

#include <atomic>
#include <string>
#include <utility>
#include <vector>

#include "infra/kafka/log_limiter.hpp"
#include "infra/kafka/options.hpp"

namespace ticketd::infra::kafka::detail {

// Properties in the order they are applied.
using Settings = std::vector<std::pair<std::string, std::string>>;

// The object librdkafka callbacks reach through the handle's opaque. It must outlive the
// rd_kafka_t it was installed in: librdkafka logs from its own threads until rd_kafka_destroy()
// returns, so owners declare the context before the handle.
class ClientContext {
 public:
  explicit ClientContext(std::string role) : role_(std::move(role)) {}
  virtual ~ClientContext() = default;
  ClientContext(const ClientContext&) = delete;
  ClientContext& operator=(const ClientContext&) = delete;

  // Returns a configuration holding bootstrap.servers and client.id, then `defaults`, then
  // options.extra (so operators can override any default), with this context as opaque and the
  // log and error callbacks installed. Throws InfraError(kInternal, "KAFKA_CONFIG_INVALID")
  // naming the property librdkafka rejected.
  ConfHandle make_conf(const Options& options, const Settings& defaults);

  // Returns a new client owning `conf`. Throws InfraError(kUnavailable, "KAFKA_CLIENT_FAILED").
  static KafkaHandle make_handle(rd_kafka_type_t type, ConfHandle conf);

  // The context installed by make_conf(), from a callback's opaque argument.
  static ClientContext* from_opaque(void* opaque) noexcept {
    return static_cast<ClientContext*>(opaque);
  }

  const std::string& role() const noexcept { return role_; }
  // True once librdkafka raised a fatal error: the client is unusable and must be recreated.
  bool fatal() const noexcept { return fatal_.load(std::memory_order_acquire); }
  LogLimiter& limiter() noexcept { return limiter_; }

  // Called by the error callback (from whichever thread serves the handle's main queue).
  // The default logs the error, rate-limited per error code, and records fatal errors.
  virtual void on_error(rd_kafka_t* rk, int err, const char* reason) noexcept;
  // librdkafka's own log lines, from any librdkafka thread.
  void on_log(int level, const char* facility, const char* text) noexcept;

 private:
  std::string role_;
  LogLimiter limiter_;
  std::atomic<bool> fatal_{false};
};

// The value of `name` in `conf`, or "" when it is unset or unknown.
std::string conf_get(const rd_kafka_conf_t* conf, const char* name);

}  // namespace ticketd::infra::kafka::detail
