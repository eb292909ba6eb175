// core::TrustedProxies: X-Forwarded-For is believed only from trusted peers and only as far as
// the chain of trusted proxies goes.
#include "core/trusted_proxies.hpp"

#include <gtest/gtest.h>

namespace ticketd::core {
namespace {

TrustedProxies parsed(std::string_view list) {
  std::string error;
  auto p = TrustedProxies::parse(list, error);
  EXPECT_TRUE(p.has_value()) << error;
  return p.value_or(TrustedProxies{});
}

TEST(TrustedProxies, ParsesAddressesAndNetworksOfBothFamilies) {
  const auto p = parsed(" 10.0.0.0/8, 192.168.1.7 ,::1, fd00::/8,");
  EXPECT_TRUE(p.contains("10.1.2.3"));
  EXPECT_TRUE(p.contains("192.168.1.7"));
  EXPECT_FALSE(p.contains("192.168.1.8"));
  EXPECT_TRUE(p.contains("::1"));
  EXPECT_TRUE(p.contains("fd12::5"));
  EXPECT_FALSE(p.contains("2001:db8::1"));
  EXPECT_FALSE(p.contains("not an address"));
  // A peer on an IPv6 socket shows IPv4 clients as mapped addresses.
  EXPECT_TRUE(p.contains("::ffff:10.9.9.9"));
}

TEST(TrustedProxies, RefusesWhatIsNotAnAddressOrNetwork) {
  for (const char* bad : {"10.0.0.0/33", "proxy.internal", "10.0.0.1/8/1", "::1/129", "1.2.3"}) {
    std::string error;
    EXPECT_FALSE(TrustedProxies::parse(bad, error).has_value()) << bad;
    EXPECT_NE(error.find("is not an IP address"), std::string::npos) << error;
  }
}

TEST(TrustedProxies, NobodyTrustedMeansThePeerWhateverTheHeaderSays) {
  const TrustedProxies none;
  EXPECT_TRUE(none.empty());
  EXPECT_EQ(none.client_ip("198.51.100.9", "203.0.113.1"), "198.51.100.9");
}

TEST(TrustedProxies, AnUntrustedPeerCannotPickItsAddress) {
  const auto p = parsed("127.0.0.1/32");
  EXPECT_EQ(p.client_ip("198.51.100.9", "203.0.113.1"), "198.51.100.9");
}

TEST(TrustedProxies, TheRightMostUntrustedEntryIsTheClient) {
  const auto p = parsed("10.0.0.0/8");
  // The client invented the first entry; the proxy appended the address it saw.
  EXPECT_EQ(p.client_ip("10.0.0.2", "1.1.1.1, 203.0.113.7"), "203.0.113.7");
  // Two trusted hops: the second proxy appended the first one's address.
  EXPECT_EQ(p.client_ip("10.0.0.2", "1.1.1.1,203.0.113.7, 10.0.0.3"), "203.0.113.7");
  // No header: the proxy itself.
  EXPECT_EQ(p.client_ip("10.0.0.2", ""), "10.0.0.2");
}

TEST(TrustedProxies, EveryHopTrustedGivesTheLeftMost) {
  const auto p = parsed("10.0.0.0/8");
  EXPECT_EQ(p.client_ip("10.0.0.2", "10.0.0.9, 10.0.0.3"), "10.0.0.9");
}

TEST(TrustedProxies, GarbageStopsTheWalkAtTheLastTrustedHop) {
  const auto p = parsed("10.0.0.0/8");
  EXPECT_EQ(p.client_ip("10.0.0.2", "203.0.113.7, bogus, 10.0.0.3"), "10.0.0.3");
  EXPECT_EQ(p.client_ip("10.0.0.2", "bogus"), "10.0.0.2");
}

TEST(TrustedProxies, PortsAndBracketsAreUnderstoodAndAddressesNormalized) {
  const auto p = parsed("10.0.0.0/8");
  EXPECT_EQ(p.client_ip("10.0.0.2", "203.0.113.7:5123"), "203.0.113.7");
  EXPECT_EQ(p.client_ip("10.0.0.2", "[2001:DB8::1]:443"), "2001:db8::1");
  EXPECT_EQ(p.client_ip("10.0.0.2", "2001:db8::2"), "2001:db8::2");
  EXPECT_EQ(p.client_ip("::ffff:10.0.0.2", "203.0.113.8"), "203.0.113.8");
}

}  // namespace
}  // namespace ticketd::core
