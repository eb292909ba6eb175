#include "core/trusted_proxies.hpp"

#include <boost/asio/ip/address.hpp>

#include "core/strings.hpp"

namespace ticketd::core {

namespace ip = boost::asio::ip;

namespace {

// An address as proxies write it: bare, "[v6]" or "[v6]:port", or "v4:port". IPv4-mapped IPv6
// addresses count as the IPv4 address they carry.
std::optional<ip::address> address_of(std::string_view text) {
  text = trim(text);
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    text = text.substr(1, close - 1);
  } else if (const auto colon = text.find(':');
             colon != std::string_view::npos &&
             text.find(':', colon + 1) == std::string_view::npos) {
    text = text.substr(0, colon);  // "1.2.3.4:5678"
  }
  boost::system::error_code ec;
  auto a = ip::make_address(std::string(text), ec);
  if (ec) return std::nullopt;
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return ip::address(ip::make_address_v4(ip::v4_mapped, a.to_v6()));
  }
  return a;
}

}  // namespace

std::optional<TrustedProxies> TrustedProxies::parse(std::string_view list, std::string& error) {
  TrustedProxies out;
  while (!list.empty()) {
    const auto comma = list.find(',');
    const std::string entry(trim(list.substr(0, comma)));
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    if (entry.empty()) continue;
    boost::system::error_code ec;
    if (entry.find('/') == std::string::npos) {
      auto a = ip::make_address(entry, ec);
      if (!ec && a.is_v4()) {
        out.v4_.emplace_back(a.to_v4(), 32);
        continue;
      }
      if (!ec) {
        out.v6_.emplace_back(a.to_v6(), 128);
        continue;
      }
    } else {
      auto n4 = ip::make_network_v4(entry, ec);
      if (!ec) {
        out.v4_.push_back(n4.canonical());
        continue;
      }
      auto n6 = ip::make_network_v6(entry, ec);
      if (!ec) {
        out.v6_.push_back(n6.canonical());
        continue;
      }
    }
    error = "'" + entry + "' is not an IP address or CIDR network";
    return std::nullopt;
  }
  return out;
}

bool TrustedProxies::contains(std::string_view text) const {
  if (empty()) return false;
  const auto a = address_of(text);
  if (!a) return false;
  if (a->is_v4()) {
    const ip::network_v4 host(a->to_v4(), 32);
    for (const auto& n : v4_) {
      if (host == n || host.is_subnet_of(n)) return true;
    }
    return false;
  }
  const ip::network_v6 host(a->to_v6(), 128);
  for (const auto& n : v6_) {
    if (host == n || host.is_subnet_of(n)) return true;
  }
  return false;
}

std::string TrustedProxies::client_ip(const std::string& peer,
                                      std::string_view forwarded_for) const {
  if (forwarded_for.empty() || !contains(peer)) return peer;
  std::string client = peer;
  // Right to left: each trusted hop vouches for the entry to its left.
  while (!forwarded_for.empty()) {
    const auto comma = forwarded_for.rfind(',');
    const std::string_view entry =
        comma == std::string_view::npos ? forwarded_for : forwarded_for.substr(comma + 1);
    forwarded_for =
        comma == std::string_view::npos ? std::string_view() : forwarded_for.substr(0, comma);
    const auto a = address_of(entry);
    if (!a) return client;  // garbage: believe nothing further left
    client = a->to_string();
    if (!contains(client)) return client;
  }
  return client;  // every hop is a trusted proxy: the left-most is as far as we can see
}

}  // namespace ticketd::core
