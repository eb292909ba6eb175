#include "infra/kafka/client.hpp"

#include <fmt/format.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <exception>

#include "core/errors.hpp"
#include "core/log.hpp"

namespace ticketd::infra::kafka::detail {
namespace {

constexpr std::size_t kErrstrSize = 512;

void set(rd_kafka_conf_t* conf, const std::string& name, const std::string& value) {
  std::array<char, kErrstrSize> errstr{};
  if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), errstr.data(), errstr.size()) !=
      RD_KAFKA_CONF_OK) {
    throw core::InfraError(core::ErrorKind::kInternal, "KAFKA_CONFIG_INVALID",
                           fmt::format("kafka property {}: {}", name, errstr.data()));
  }
}

// C callbacks: nothing may unwind through librdkafka's frames, hence noexcept on the handlers.
void error_callback(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
  ClientContext::from_opaque(opaque)->on_error(rk, err, reason);
}

void log_callback(const rd_kafka_t* rk, int level, const char* facility, const char* text) {
  if (void* opaque = rd_kafka_opaque(rk)) {
    ClientContext::from_opaque(opaque)->on_log(level, facility, text);
  }
}

}  // namespace

ConfHandle ClientContext::make_conf(const Options& options, const Settings& defaults) {
  ConfHandle conf(rd_kafka_conf_new());
  set(conf.get(), "bootstrap.servers", options.brokers);
  set(conf.get(), "client.id", options.client_id);
  for (const auto& [name, value] : defaults) set(conf.get(), name, value);
  for (const auto& [name, value] : options.extra) set(conf.get(), name, value);
  rd_kafka_conf_set_opaque(conf.get(), this);
  rd_kafka_conf_set_error_cb(conf.get(), &error_callback);
  rd_kafka_conf_set_log_cb(conf.get(), &log_callback);
  return conf;
}

KafkaHandle ClientContext::make_handle(rd_kafka_type_t type, ConfHandle conf) {
  std::array<char, kErrstrSize> errstr{};
  KafkaHandle rk(rd_kafka_new(type, conf.get(), errstr.data(), errstr.size()));
  if (!rk) {
    throw core::InfraError(core::ErrorKind::kUnavailable, "KAFKA_CLIENT_FAILED",
                           fmt::format("rd_kafka_new: {}", errstr.data()));
  }
  (void)conf.release();  // owned by rk from here on
  return rk;
}

void ClientContext::on_error(rd_kafka_t* rk, int err, const char* reason) noexcept {
  try {
    const auto code = static_cast<rd_kafka_resp_err_t>(err);
    if (code == RD_KAFKA_RESP_ERR__FATAL) {
      // Fatal errors are rare and final: always logged, never rate-limited.
      std::array<char, kErrstrSize> detail{};
      const rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, detail.data(), detail.size());
      fatal_.store(true, std::memory_order_release);
      core::log::error(
          "kafka fatal error: client must be recreated",
          {{"role", role_}, {"code", rd_kafka_err2name(orig)}, {"reason", detail.data()}});
      return;
    }
    const char* name = rd_kafka_err2name(code);
    if (auto suppressed = limiter_.admit(fmt::format("err:{}", name))) {
      core::log::warn("kafka client error", {{"role", role_},
                                             {"code", name},
                                             {"reason", reason ? reason : ""},
                                             {"suppressed", *suppressed}});
    }
  } catch (const std::exception& e) {
    // Logging itself failed (allocation); stderr is the last place left to say so.
    std::fprintf(stderr, "kafka error callback failed: %s\n", e.what());
  }
}

void ClientContext::on_log(int level, const char* facility, const char* text) noexcept {
  try {
    // Syslog levels: 0-3 error, 4 warning, 5-6 notice/info, 7 debug.
    const core::log::Level mapped = level <= 3   ? core::log::Level::kError
                                    : level == 4 ? core::log::Level::kWarn
                                    : level <= 6 ? core::log::Level::kInfo
                                                 : core::log::Level::kDebug;
    if (!core::log::enabled(mapped)) return;
    const char* fac = facility ? facility : "";
    // A failed connection is also raised through the error callback (as _TRANSPORT): keep one.
    if (std::strcmp(fac, "FAIL") == 0 && !core::log::enabled(core::log::Level::kDebug)) return;
    if (auto suppressed = limiter_.admit(fmt::format("log:{}", fac))) {
      core::log::write(mapped, "librdkafka",
                       {{"role", role_},
                        {"facility", fac},
                        {"text", text ? text : ""},
                        {"suppressed", *suppressed}});
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kafka log callback failed: %s\n", e.what());
  }
}

std::string conf_get(const rd_kafka_conf_t* conf, const char* name) {
  std::size_t size = 0;
  if (rd_kafka_conf_get(conf, name, nullptr, &size) != RD_KAFKA_CONF_OK || size == 0) return {};
  std::string value(size, '\0');
  if (rd_kafka_conf_get(conf, name, value.data(), &size) != RD_KAFKA_CONF_OK) return {};
  value.resize(size > 0 ? size - 1 : 0);  // size counts the terminating NUL
  return value;
}

}  // namespace ticketd::infra::kafka::detail
