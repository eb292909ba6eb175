#include "infra/redis/options.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <stdexcept>
#include <string>

namespace ticketd::infra::redis {
namespace {

constexpr std::string_view kScheme = "redis://";
constexpr int kMaxDb = 1 << 20;  // Redis' `databases` is configurable; this only rejects nonsense

[[noreturn]] void fail(std::string_view what) {
  throw std::invalid_argument("invalid redis url: " + std::string(what));
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// `what` names the component in the error message; the component's text is never quoted.
std::string percent_decode(std::string_view in, std::string_view what) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out.push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) fail(std::string(what) + " has a truncated %-escape");
    const int hi = hex_value(in[i + 1]);
    const int lo = hex_value(in[i + 2]);
    if (hi < 0 || lo < 0) fail(std::string(what) + " has an invalid %-escape");
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

bool parse_int(std::string_view s, int& out) {
  if (s.empty() || s.size() > 9) return false;
  if (!std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) return false;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

}  // namespace

Options parse_url(std::string_view url) {
  if (url.size() < kScheme.size() ||
      !std::equal(kScheme.begin(), kScheme.end(), url.begin(), [](char a, char b) {
        return a == std::tolower(static_cast<unsigned char>(b));
      })) {
    if (url.starts_with("rediss://")) fail("rediss:// (TLS) is not supported");
    fail("it must start with redis://");
  }
  std::string_view rest = url.substr(kScheme.size());
  if (rest.find_first_of("?#") != std::string_view::npos) fail("query strings are not supported");

  Options options;
  // The last '@' ends the credentials, so an unescaped '@' or '/' inside the password still parses.
  if (const auto at = rest.rfind('@'); at != std::string_view::npos) {
    const std::string_view userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    const auto colon = userinfo.find(':');
    if (colon == std::string_view::npos) {
      // `redis://secret@host` is the old redis-py form: a lone field is the password.
      options.password = percent_decode(userinfo, "the password");
    } else {
      options.username = percent_decode(userinfo.substr(0, colon), "the user name");
      options.password = percent_decode(userinfo.substr(colon + 1), "the password");
    }
  }

  std::string_view hostport = rest;
  std::string_view path;
  if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
    hostport = rest.substr(0, slash);
    path = rest.substr(slash + 1);
  }

  std::string_view port_text;
  if (hostport.starts_with('[')) {
    const auto close = hostport.find(']');
    if (close == std::string_view::npos) fail("an IPv6 host is missing its closing ']'");
    options.host = std::string(hostport.substr(1, close - 1));
    const std::string_view after = hostport.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') fail("unexpected characters after the IPv6 host");
      port_text = after.substr(1);
      if (port_text.empty()) fail("the port is empty");
    }
  } else {
    const auto colon = hostport.find(':');
    options.host = std::string(hostport.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = hostport.substr(colon + 1);
      if (port_text.empty()) fail("the port is empty");
    }
  }
  if (options.host.empty()) fail("the host is missing");
  if (!port_text.empty()) {
    if (!parse_int(port_text, options.port) || options.port < 1 || options.port > 65535) {
      fail("the port must be a number from 1 to 65535");
    }
  }
  if (!path.empty()) {
    if (!parse_int(path, options.db) || options.db > kMaxDb) {
      fail("the database must be a non-negative number");
    }
  }
  return options;
}

void validate(const Options& options) {
  if (options.host.empty()) throw std::invalid_argument("redis host is empty");
  if (options.port < 1 || options.port > 65535) {
    throw std::invalid_argument("redis port must be from 1 to 65535");
  }
  if (options.db < 0) throw std::invalid_argument("redis db must not be negative");
  if (options.connect_timeout.count() <= 0 || options.command_timeout.count() <= 0) {
    throw std::invalid_argument("redis timeouts must be positive");
  }
  if (options.reconnect_min.count() <= 0 || options.reconnect_max < options.reconnect_min) {
    throw std::invalid_argument("redis reconnect delays need 0 < reconnect_min <= reconnect_max");
  }
  if (options.max_in_flight == 0) throw std::invalid_argument("redis max_in_flight must be > 0");
}

std::string describe(const Options& options) {
  const bool v6 = options.host.find(':') != std::string::npos;
  std::string out = v6 ? "[" + options.host + "]" : options.host;
  out += ":" + std::to_string(options.port) + "/" + std::to_string(options.db);
  return out;
}

std::chrono::milliseconds reconnect_delay(const Options& options, unsigned attempt, double jitter) {
  const double min = static_cast<double>(options.reconnect_min.count());
  const double max = static_cast<double>(options.reconnect_max.count());
  // 2^attempt overflows nothing as a double, and the cap applies before converting back.
  const double base = std::min(max, min * std::pow(2.0, std::min(attempt, 62u)));
  const double scaled = base * (0.5 + 0.5 * std::clamp(jitter, 0.0, 1.0));
  return std::chrono::milliseconds(std::max<long long>(1, std::llround(scaled)));
}

}  // namespace ticketd::infra::redis
