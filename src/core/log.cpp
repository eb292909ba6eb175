#include "core/log.hpp"

#include <fmt/format.h>
#include <spdlog/async.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/json/serialize.hpp>
#include <cmath>
#include <iterator>
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

namespace {

// Appends `s` as a JSON string literal (RFC 8259 escaping; other bytes pass through).
void append_quoted(fmt::memory_buffer& out, std::string_view s) {
  constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (char c : s) {
    switch (c) {
      case '"':
        out.append(std::string_view("\\\""));
        break;
      case '\\':
        out.append(std::string_view("\\\\"));
        break;
      case '\n':
        out.append(std::string_view("\\n"));
        break;
      case '\r':
        out.append(std::string_view("\\r"));
        break;
      case '\t':
        out.append(std::string_view("\\t"));
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          const char esc[] = {'\\', 'u', '0', '0', kHex[(c >> 4) & 0xf], kHex[c & 0xf]};
          out.append(std::string_view(esc, sizeof esc));
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

}  // namespace

std::string render(Level level, std::string_view msg, Fields fields) {
  fmt::memory_buffer out;
  out.append(std::string_view(R"({"time":")"));
  out.append(iso8601_now());
  out.append(std::string_view(R"(","level":")"));
  out.append(level_name(level));
  out.append(std::string_view(R"(","message":)"));
  append_quoted(out, msg);
  for (const auto& f : fields) {
    if (f.kind == Field::Kind::kOmitted) continue;
    if (f.kind == Field::Kind::kJson && (f.json == nullptr || f.json->is_null())) continue;
    out.push_back(',');
    append_quoted(out, f.key);
    out.push_back(':');
    switch (f.kind) {
      case Field::Kind::kString:
        append_quoted(out, f.str);
        break;
      case Field::Kind::kInt:
        fmt::format_to(std::back_inserter(out), "{}", f.i);
        break;
      case Field::Kind::kUInt:
        fmt::format_to(std::back_inserter(out), "{}", f.u);
        break;
      case Field::Kind::kDouble:
        // JSON has no NaN/Infinity.
        if (std::isfinite(f.d)) {
          fmt::format_to(std::back_inserter(out), "{}", f.d);
        } else {
          out.append(std::string_view("null"));
        }
        break;
      case Field::Kind::kBool:
        out.append(f.b ? std::string_view("true") : std::string_view("false"));
        break;
      case Field::Kind::kJson:
        out.append(boost::json::serialize(*f.json));
        break;
      case Field::Kind::kOmitted:
        break;
    }
  }
  out.push_back('}');
  return fmt::to_string(out);
}

void write(Level level, std::string_view msg, Fields fields) {
  spdlog::logger* l = g_current.load();
  const std::string line = render(level, msg, fields);
  (l != nullptr ? *l : fallback()).log(spdlog::level::info, spdlog::string_view_t(line));
}

}  // namespace ticketd::core::log
