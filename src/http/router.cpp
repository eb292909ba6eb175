#include "http/router.hpp"

#include <stdexcept>

namespace ticketd::http {
namespace {

std::vector<std::string_view> split(std::string_view path) {
  std::vector<std::string_view> parts;
  std::size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    const auto j = path.find('/', i);
    const auto end = j == std::string_view::npos ? path.size() : j;
    parts.push_back(path.substr(i, end - i));
    i = end;
  }
  return parts;
}

}  // namespace

void Router::add(bhttp::verb method, std::string_view pattern, Handler handler,
                 RouteOptions options) {
  if (pattern.empty() || pattern.front() != '/') {
    throw std::invalid_argument("route pattern must start with '/': " + std::string(pattern));
  }
  if (!options.traffic) {
    const bool read = method == bhttp::verb::get || method == bhttp::verb::head;
    options.traffic = read ? TrafficClass::kReads : TrafficClass::kWrites;
  }
  Route r{method, std::string(pattern), {}, std::move(handler), std::move(options)};
  for (auto part : split(pattern)) {
    if (part.front() == ':') {
      if (part.size() == 1) throw std::invalid_argument("empty parameter name in " + r.pattern);
      r.segments.push_back({std::string(part.substr(1)), true});
    } else {
      r.segments.push_back({std::string(part), false});
    }
  }
  for (const auto& existing : routes_) {
    if (existing.method == method && existing.pattern == r.pattern) {
      throw std::invalid_argument("duplicate route " + r.pattern);
    }
  }
  routes_.push_back(std::move(r));
}

bool Router::matches(const Route& r, const std::vector<std::string_view>& parts,
                     PathParams* params) {
  if (r.segments.size() != parts.size()) return false;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (!r.segments[i].param && r.segments[i].text != parts[i]) return false;
  }
  if (params != nullptr) {
    params->clear();
    for (std::size_t i = 0; i < parts.size(); ++i) {
      if (r.segments[i].param) params->emplace_back(r.segments[i].text, std::string(parts[i]));
    }
  }
  return true;
}

bool Router::more_specific(const Route& a, const Route& b) {
  for (std::size_t i = 0; i < a.segments.size() && i < b.segments.size(); ++i) {
    if (a.segments[i].param != b.segments[i].param) return !a.segments[i].param;
  }
  return false;
}

std::size_t Router::largest_body_limit(std::size_t fallback) const noexcept {
  std::size_t out = fallback;
  for (const auto& r : routes_) {
    if (r.options.body_limit && *r.options.body_limit > out) out = *r.options.body_limit;
  }
  return out;
}

bool Router::same_resource(const Route& a, const Route& b) {
  if (a.segments.size() != b.segments.size()) return false;
  for (std::size_t i = 0; i < a.segments.size(); ++i) {
    if (a.segments[i].param != b.segments[i].param) return false;
    if (!a.segments[i].param && a.segments[i].text != b.segments[i].text) return false;
  }
  return true;
}

Router::Match Router::match(bhttp::verb method, std::string_view path) const {
  const auto parts = split(path);
  // The resource is the most specific pattern matching the path, whatever the method: a literal
  // route (POST /payments/webhook) shadows a parameter one (GET /payments/:paymentId) for every
  // method, so another method there is a 405 naming POST, never the other resource's answer.
  const Route* resource = nullptr;
  for (const auto& r : routes_) {
    if (!matches(r, parts, nullptr)) continue;
    if (resource == nullptr || more_specific(r, *resource)) resource = &r;
  }
  Match m;
  if (resource == nullptr) return m;
  for (const auto& r : routes_) {
    if (!same_resource(r, *resource)) continue;
    if (r.method != method) {
      m.allowed.push_back(r.method);
      continue;
    }
    matches(r, parts, &m.params);
    m.handler = &r.handler;
    m.pattern = r.pattern;
    m.options = &r.options;
    m.allowed.clear();
    break;
  }
  return m;
}

std::vector<std::string> Router::describe() const {
  std::vector<std::string> out;
  out.reserve(routes_.size());
  for (const auto& r : routes_) {
    out.push_back(std::string(bhttp::to_string(r.method)) + " " + r.pattern);
  }
  return out;
}

}  // namespace ticketd::http
