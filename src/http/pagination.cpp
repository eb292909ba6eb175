#include "http/pagination.hpp"

#include <algorithm>
#include <charconv>

#include "core/errors.hpp"
#include "core/ids.hpp"
#include "http/params.hpp"

namespace ticketd::http {
namespace {

std::int64_t read_int(const Request& req, std::string_view name, std::int64_t fallback,
                      std::int64_t lo, std::int64_t hi) {
  const auto raw = req.query_param(name);
  if (!raw) return fallback;
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(raw->data(), raw->data() + raw->size(), v);
  if (ec != std::errc{} || p != raw->data() + raw->size() || v < lo || v > hi) {
    throw invalid_query(name, std::string(name) + " must be an integer in [" + std::to_string(lo) +
                                  ", " + std::to_string(hi) + "]");
  }
  return v;
}

}  // namespace

Page read_page(const Request& req, std::int64_t max_limit, std::int64_t default_limit) {
  Page p;
  p.limit = read_int(req, "limit", std::min(default_limit, max_limit), 1, max_limit);
  // Bounded so page * limit never overflows and OFFSET stays sane.
  p.page = read_int(req, "page", 1, 1, 1'000'000);
  return p;
}

}  // namespace ticketd::http
