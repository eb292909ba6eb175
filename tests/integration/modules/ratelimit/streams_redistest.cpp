// Concurrent SSE stream caps shared by instances (ratelimit::StreamLeases) against the real
// Redis: caps per address and per user across two "instances", leases given back, renewed, and
// lapsing when nobody renews them (an instance that died).
#include <boost/asio/steady_timer.hpp>

#include "integration/infra/redis/redis_test_support.hpp"
#include "modules/ratelimit/streams.hpp"

namespace ticketd::ratelimit {
namespace {

using namespace infra::redis::testing;  // NOLINT(google-build-using-namespace): test helpers

// Named arguments only around co_await (GCC 12 rejects braced lists inside one, README).
asio::awaitable<bool> take(StreamLeases& leases, const StreamLease& lease, int per_ip,
                           int per_user) {
  StreamLease copy = lease;
  co_return co_await leases.take(std::move(copy), per_ip, per_user);
}

asio::awaitable<void> give_back(StreamLeases& leases, const StreamLease& lease) {
  std::vector<StreamLease> one{lease};
  co_await leases.give_back(std::move(one));
}

asio::awaitable<void> pause(std::chrono::milliseconds d) {
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  co_await timer.async_wait(asio::use_awaitable);
}

asio::awaitable<void> shared_caps(Harness& h) {
  {
    auto client = h.client(infra::redis::parse_url(redis_url()));
    co_await wait_until([&] { return client->connected(); }, 5s, "redis connected");
    // Two lease counters are two instances sharing Redis.
    StreamLeases a(client, std::chrono::milliseconds(600));
    StreamLeases b(client, std::chrono::milliseconds(600));
    const std::string ip = unique_name("ip");
    const std::string user = unique_name("user");
    const StreamLease a1{unique_name("lease"), ip, user};
    const StreamLease b1{unique_name("lease"), ip, user};
    const StreamLease b2{unique_name("lease"), ip, user};
    require(co_await take(a, a1, 3, 2), "first stream of the user");
    require(co_await take(b, b1, 3, 2), "second, on the other instance");
    require(!(co_await take(b, b2, 3, 2)), "the user's third is refused across instances");
    const StreamLease other{unique_name("lease"), ip, unique_name("user")};
    require(co_await take(a, other, 3, 2), "another user at the address: third of three");
    const StreamLease anon{unique_name("lease"), ip, ""};
    require(!(co_await take(a, anon, 3, 2)), "the address is full, even for anonymous viewers");

    co_await give_back(a, a1);
    require(co_await take(b, b2, 3, 2), "a closed stream frees its place everywhere");

    // Renewed leases live on; leases nobody renews (a dead instance's) lapse.
    std::vector<StreamLease> live{b1, b2};
    co_await b.renew(std::move(live));
    co_await pause(400ms);
    std::vector<StreamLease> again{b1, b2};
    co_await b.renew(std::move(again));
    co_await pause(400ms);
    const StreamLease late{unique_name("lease"), unique_name("ip"), user};
    require(!(co_await take(a, late, 3, 2)), "b's renewed leases still count for the user");
    require(co_await take(a, anon, 3, 2), "but `other`, never renewed, lapsed at the address");
    co_await pause(700ms);
    require(co_await take(a, late, 3, 2), "b stopped renewing: its leases lapsed");
  }
}

TEST(StreamLeasesRedis, CapsCountEveryInstanceAndLeasesLapseUnlessRenewed) {
  Harness h;
  h.run(shared_caps(h));
}

}  // namespace
}  // namespace ticketd::ratelimit
