#pragma once
// Structured logging: one JSON object per line on stdout with time, level, msg and the ids
// involved. Writing goes through a bounded asynchronous queue so an I/O thread never blocks on
// the terminal; when the queue overflows the oldest lines are dropped (counted in /metrics).
#include <boost/json/value.hpp>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace ticketd::core::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// One key/value of a log line. Values are views: a line is rendered before write() returns, so
// temporaries are fine and nothing is copied or allocated until the line itself.
struct Field {
  enum class Kind { kString, kInt, kUInt, kDouble, kBool, kJson, kOmitted };
  Field(std::string_view k, std::string_view v) : key(k), kind(Kind::kString), str(v) {}
  Field(std::string_view k, const std::string& v) : key(k), kind(Kind::kString), str(v) {}
  Field(std::string_view k, const char* v) : key(k), kind(Kind::kString), str(v) {}
  Field(std::string_view k, bool v) : key(k), kind(Kind::kBool), b(v) {}
  Field(std::string_view k, double v) : key(k), kind(Kind::kDouble), d(v) {}
  template <typename Int>
  requires(std::is_integral_v<Int>&& std::is_signed_v<Int>) Field(std::string_view k, Int v)
      : key(k), kind(Kind::kInt), i(v) {}
  template <typename Int>
  requires(std::is_integral_v<Int>&& std::is_unsigned_v<Int> && !std::is_same_v<Int, bool>)
      Field(std::string_view k, Int v)
      : key(k), kind(Kind::kUInt), u(v) {}
  Field(std::string_view k, const boost::json::value& v) : key(k), kind(Kind::kJson), json(&v) {}
  // A field written only when it holds a value (an id that may not be known).
  Field(std::string_view k, std::optional<std::string_view> v)
      : key(k), kind(v ? Kind::kString : Kind::kOmitted), str(v.value_or(std::string_view{})) {}

  std::string_view key;
  Kind kind;
  std::string_view str;
  long long i = 0;
  unsigned long long u = 0;
  double d = 0;
  bool b = false;
  const boost::json::value* json = nullptr;
};
using Fields = std::initializer_list<Field>;

// Returns false and leaves the level unchanged when `name` is not debug|info|warn|error.
bool parse_level(std::string_view name, Level& out) noexcept;

// Sets the minimum level and starts the writer. Safe to call again (tests); lines logged before
// init go to stdout at info level.
void init(Level min_level);
// Flushes and stops the writer thread (end of main).
void shutdown();

bool enabled(Level level) noexcept;
void write(Level level, std::string_view msg, Fields fields);

// The same line as `write`, rendered but not written (unit tests of the format).
std::string render(Level level, std::string_view msg, Fields fields);

inline void debug(std::string_view msg, Fields fields = {}) {
  if (enabled(Level::kDebug)) write(Level::kDebug, msg, fields);
}
inline void info(std::string_view msg, Fields fields = {}) {
  if (enabled(Level::kInfo)) write(Level::kInfo, msg, fields);
}
inline void warn(std::string_view msg, Fields fields = {}) {
  if (enabled(Level::kWarn)) write(Level::kWarn, msg, fields);
}
inline void error(std::string_view msg, Fields fields = {}) {
  if (enabled(Level::kError)) write(Level::kError, msg, fields);
}

}  // namespace ticketd::core::log
