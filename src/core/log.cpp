#include "core/log.hpp"

#include <spdlog/async.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/json/serialize.hpp>
#include <memory>
#include <mutex>

#include "core/time.hpp"

namespace ticketd::core::log {
namespace {

std::atomic<int> g_min_level{static_cast<int>(Level::kInfo)};
std::mutex g_init_mutex;
std::shared_ptr<spdlog::logger> g_logger;         // owner, guarded by g_init_mutex
std::atomic<spdlog::logger*> g_current{nullptr};  // lock-free view for write()

constexpr std::string_view level_name(Level level) {
  switch (level) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "info";
}

// Lines logged before init() (or after shutdown()) are written synchronously.
spdlog::logger& fallback() {
  static spdlog::logger l("ticketd", std::make_shared<spdlog::sinks::stdout_sink_mt>());
  static const bool patterned = (l.set_pattern("%v"), true);
  (void)patterned;
  return l;
}

}  // namespace

bool parse_level(std::string_view name, Level& out) noexcept {
  for (Level l : {Level::kDebug, Level::kInfo, Level::kWarn, Level::kError}) {
    if (name == level_name(l)) {
      out = l;
      return true;
    }
  }
  return false;
}

void init(Level min_level) {
  g_min_level.store(static_cast<int>(min_level));
  std::lock_guard lock(g_init_mutex);
  if (g_logger && g_logger->name() == "ticketd-async") return;
  // 8192 lines of headroom; one writer thread keeps stdout off the I/O threads.
  spdlog::init_thread_pool(8192, 1);
  auto sink = std::make_shared<spdlog::sinks::stdout_sink_mt>();
  g_logger = std::make_shared<spdlog::async_logger>("ticketd-async", sink, spdlog::thread_pool(),
                                                    spdlog::async_overflow_policy::overrun_oldest);
  g_logger->set_pattern("%v");
  g_logger->flush_on(spdlog::level::warn);
  g_current.store(g_logger.get());
}

void shutdown() {
  std::lock_guard lock(g_init_mutex);
  g_current.store(nullptr);
  if (g_logger) g_logger->flush();
  g_logger.reset();
  spdlog::shutdown();
}

bool enabled(Level level) noexcept {
  return static_cast<int>(level) >= g_min_level.load();
}

std::string render(Level level, std::string_view msg, Fields fields) {
  boost::json::object line;
  line.reserve(3 + fields.size());
  line["time"] = iso8601_now();
  line["level"] = level_name(level);
  line["msg"] = msg;
  for (const auto& f : fields) {
    if (!f.value.is_null()) line[f.key] = f.value;
  }
  return boost::json::serialize(line);
}

void write(Level level, std::string_view msg, Fields fields) {
  spdlog::logger* l = g_current.load();
  (l != nullptr ? *l : fallback()).info("{}", render(level, msg, fields));
}

}  // namespace ticketd::core::log
