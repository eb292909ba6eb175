#pragma once
// The client's address behind reverse proxies (TRUSTED_PROXIES). X-Forwarded-For is believed
// only when the socket peer is a trusted proxy, and then only as far as the chain of trusted
// proxies goes: the client's address is the right-most entry that is not itself trusted (each
// proxy appends the address it saw, so entries left of the first untrusted one were written by
// whoever connected, and may be invented). A client can never pick its own address.
#include <boost/asio/ip/network_v4.hpp>
#include <boost/asio/ip/network_v6.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ticketd::core {

class TrustedProxies {
 public:
  TrustedProxies() = default;  // trusts nobody: the socket peer is always the client

  // Comma-separated CIDRs or single addresses, IPv4 or IPv6 ("10.0.0.0/8, ::1"). nullopt with
  // `error` set when an entry is neither.
  static std::optional<TrustedProxies> parse(std::string_view list, std::string& error);

  bool empty() const noexcept { return v4_.empty() && v6_.empty(); }
  bool contains(std::string_view ip) const;

  // The client's address for a request from `peer` carrying `forwarded_for` (every
  // X-Forwarded-For value, joined with commas in header order; empty when absent): `peer` unless
  // it is trusted; then the right-most entry that is not trusted, or the left-most when all are.
  // An entry that is not an address ends the walk: the last trusted hop before it is the answer.
  std::string client_ip(const std::string& peer, std::string_view forwarded_for) const;

 private:
  std::vector<boost::asio::ip::network_v4> v4_;
  std::vector<boost::asio::ip::network_v6> v6_;
};

}  // namespace ticketd::core
