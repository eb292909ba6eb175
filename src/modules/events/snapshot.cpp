#include "modules/events/snapshot.hpp"

#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>
#include <charconv>

#include "core/crypto.hpp"
#include "core/json.hpp"

namespace ticketd::events {

using core::json::append_quoted;
using core::json::append_quoted_or_null;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kMaxMemoizedPages = 256;

void append_int(std::string& out, std::int64_t v) {
  char buf[24];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, p);
}

void append_number(std::string& out, const std::optional<double>& v) {
  if (!v) {
    out += "null";
    return;
  }
  char buf[32];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, *v);
  out.append(buf, p);
}

void append_opt_int(std::string& out, const std::optional<std::int64_t>& v) {
  if (v) {
    append_int(out, *v);
  } else {
    out += "null";
  }
}

// The seat-map item (openapi/openapi.yaml), rendered once per snapshot.
std::string render_seat(const Seat& s) {
  std::string o;
  o.reserve(420);
  o += R"({"id":)";
  append_quoted(o, s.id);
  o += R"(,"seatNo":)";
  append_quoted(o, s.label ? *s.label : std::to_string(s.seat_number));
  o += R"(,"seatNumber":)";
  append_int(o, s.seat_number);
  o += R"(,"seatCode":)";
  append_quoted(o, s.seat_code);
  o += R"(,"label":)";
  append_quoted_or_null(o, s.label);
  o += R"(,"section":)";
  append_quoted(o, s.section);
  o += R"(,"sectionId":)";
  append_quoted(o, s.section_id);
  o += R"(,"sectionCode":)";
  append_quoted(o, s.section_code);
  o += R"(,"row":)";
  append_quoted(o, s.row);
  o += R"(,"rowId":)";
  append_quoted(o, s.row_id);
  o += R"(,"status":)";
  append_quoted(o, s.status);
  o += R"(,"priceCents":)";
  append_opt_int(o, s.price_cents);
  o += R"(,"feesCents":)";
  append_opt_int(o, s.fees_cents);
  o += R"(,"ticketTypeId":)";
  append_quoted_or_null(o, s.ticket_type_id);
  o += R"(,"reservedUntil":)";
  append_quoted_or_null(o, s.reserved_until);
  o += R"(,"x":)";
  append_number(o, s.x);
  o += R"(,"y":)";
  append_number(o, s.y);
  o += '}';
  return o;
}

void add(Counts& c, unsigned bit) {
  ++c.total;
  if (bit == kAvailable) ++c.available;
  if (bit == kReserved) ++c.reserved;
  if (bit == kSold) ++c.sold;
  if (bit == kBlocked) ++c.blocked;
}

}  // namespace

unsigned status_bit(std::string_view status) noexcept {
  if (status == "AVAILABLE") return kAvailable;
  if (status == "RESERVED") return kReserved;
  if (status == "SOLD") return kSold;
  if (status == "BLOCKED") return kBlocked;
  return 0;
}

Snapshot::Snapshot(Repository::SeatMapRows rows, Clock::time_point loaded_at,
                   Clock::time_point valid_until)
    : event_(std::move(rows.event)),
      ticket_types_(std::move(rows.ticket_types)),
      loaded_at_(loaded_at),
      valid_until_(valid_until) {
  const std::size_t n = rows.seats.size();
  status_bits_.reserve(n);
  section_ids_.reserve(n);
  section_codes_.reserve(n);
  seat_ids_.reserve(n);
  seat_nos_.reserve(n);
  reserved_until_.reserve(n);
  fragments_.reserve(n);
  for (auto& s : rows.seats) {
    const unsigned bit = status_bit(s.status);
    add(counts_, bit);
    status_bits_.push_back(bit);
    fragments_.push_back(render_seat(s));
    seat_nos_.push_back(s.label ? *s.label : std::to_string(s.seat_number));
    reserved_until_.push_back(s.reserved_until);
    section_ids_.push_back(std::move(s.section_id));
    section_codes_.push_back(std::move(s.section_code));
    seat_ids_.push_back(std::move(s.id));
  }
  index_.reserve(n);
  for (std::size_t i = 0; i < n; ++i) index_.emplace(seat_ids_[i], i);
  for (const auto& t : ticket_types_) {
    if (t.kind != "GA") continue;
    counts_.total += t.counts.total;
    counts_.available += t.counts.available;
    counts_.reserved += t.counts.reserved;
    counts_.sold += t.counts.sold;
  }
  auto data = to_json(event_);
  data["availability"] = to_json(counts_);
  boost::json::array types;
  for (const auto& t : ticket_types_) types.push_back(to_json(t));
  data["ticketTypes"] = std::move(types);
  auto rendered = std::make_shared<Rendered>();
  rendered->data = boost::json::serialize(data);
  rendered->etag = core::weak_etag(rendered->data);
  details_ = std::move(rendered);
}

std::string_view Snapshot::seat_status(std::size_t i) const noexcept {
  switch (status_bits_[i]) {
    case kAvailable:
      return "AVAILABLE";
    case kReserved:
      return "RESERVED";
    case kSold:
      return "SOLD";
    case kBlocked:
      return "BLOCKED";
    default:
      return "UNKNOWN";
  }
}

std::shared_ptr<const Rendered> Snapshot::details() const {
  return details_;
}

std::shared_ptr<const Rendered> Snapshot::page(const SeatQuery& q) const {
  std::string key = std::to_string(q.statuses);
  key += '|';
  key += q.section.value_or("");
  key += '|';
  key += std::to_string(q.page);
  key += '|';
  key += std::to_string(q.limit);
  {
    std::lock_guard lock(memo_mutex_);
    auto it = memo_.find(key);
    if (it != memo_.end()) return it->second;
  }
  auto rendered = render_page(q);
  std::lock_guard lock(memo_mutex_);
  if (memo_.size() >= kMaxMemoizedPages) memo_.clear();
  memo_.emplace(std::move(key), rendered);
  return rendered;
}

std::shared_ptr<const Rendered> Snapshot::render_page(const SeatQuery& q) const {
  std::string code;
  if (q.section) {
    for (char c : *q.section) code += (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c;
  }
  const auto first = static_cast<std::size_t>((q.page - 1) * q.limit);
  const auto last = first + static_cast<std::size_t>(q.limit);
  auto out = std::make_shared<Rendered>();
  out->data = "[";
  std::size_t matched = 0;
  for (std::size_t i = 0; i < fragments_.size(); ++i) {
    if ((status_bits_[i] & q.statuses) == 0) continue;
    if (q.section && section_ids_[i] != *q.section && section_codes_[i] != code) continue;
    if (matched >= first && matched < last) {
      if (out->data.size() > 1) out->data += ',';
      out->data += fragments_[i];
    }
    ++matched;
  }
  out->data += ']';
  out->total = static_cast<std::int64_t>(matched);
  out->etag = core::weak_etag(out->data);
  return out;
}

std::string Snapshot::items(const std::vector<std::string>& seat_ids) const {
  std::string out = "[";
  for (const auto& id : seat_ids) {
    auto it = index_.find(id);
    if (it == index_.end()) continue;
    if (out.size() > 1) out += ',';
    out += fragments_[it->second];
  }
  out += ']';
  return out;
}

}  // namespace ticketd::events
