// bench/reserve_open_loop: an open-loop (fixed arrival rate) load generator for
// POST /api/v1/reservations, for bench/reserve. wrk is a closed loop: a connection sends its next
// request only once the previous one is answered, so at saturation its latency is just
// connections / throughput. Here requests fall due at fixed times (RATE per second) whatever the
// server does, and a request's latency counts from the moment it was due: waiting for a free
// connection in the generator counts too (no coordinated omission).
//
//   reserve_open_loop HOST PORT CONNECTIONS RATE SECONDS EVENT_ID SEATS_FILE TOKENS_FILE
//
// Each request reserves one random seat of SEATS_FILE as a random user of TOKENS_FILE with a
// unique idempotency key, over HTTP/1.1 keep-alive, one epoll thread. Prints one JSON object:
// offered and achieved rates, latency percentiles in ms, status counts, and the requests that
// were never sent or never answered within 10 s of the end.
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "loadgen.hpp"

namespace {

using loadgen::Clock;
using loadgen::connect_to;
using loadgen::ms_between;
using loadgen::percentile;
using loadgen::read_lines;

struct Conn {
  int fd = -1;
  bool busy = false;
  Clock::time_point due;  // of the request in flight
  std::string out;        // unsent part of the request in flight
  std::string in;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 9) {
    std::fprintf(stderr,
                 "usage: %s HOST PORT CONNECTIONS RATE SECONDS EVENT_ID SEATS_FILE TOKENS_FILE\n",
                 argv[0]);
    return 2;
  }
  const char* host = argv[1];
  const int port = std::atoi(argv[2]);
  const int connections = std::max(1, std::atoi(argv[3]));
  const double rate = std::max(1.0, std::atof(argv[4]));
  const double seconds = std::max(1.0, std::atof(argv[5]));
  const std::string event = argv[6];
  const auto seats = read_lines(argv[7]);
  const auto tokens = read_lines(argv[8]);
  if (seats.empty() || tokens.empty()) {
    std::fprintf(stderr, "no seats or no tokens\n");
    return 2;
  }

  const int ep = ::epoll_create1(0);
  std::vector<Conn> conns(static_cast<std::size_t>(connections));
  for (std::size_t i = 0; i < conns.size(); ++i) {
    conns[i].fd = connect_to(host, port);
    if (conns[i].fd < 0) {
      std::fprintf(stderr, "connect failed: %s\n", std::strerror(errno));
      return 1;
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev);
  }

  std::mt19937_64 rng(std::random_device{}());
  const std::string tag = std::to_string(rng() % 1'000'000'000);
  std::uint64_t counter = 0;
  auto build_request = [&] {
    std::string body = R"({"eventId":")" + event + R"(","seatIds":[")" +
                       seats[rng() % seats.size()] + R"("],"idempotencyKey":"open-)" + tag + "-" +
                       std::to_string(++counter) + R"("})";
    return "POST /api/v1/reservations HTTP/1.1\r\nHost: " + std::string(host) +
           "\r\nContent-Type: application/json\r\nAuthorization: Bearer " +
           tokens[rng() % tokens.size()] + "\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\n\r\n" + body;
  };
  auto flush = [&](std::size_t i) {
    Conn& c = conns[i];
    loadgen::send_some(c.fd, c.out);
    epoll_event ev{};
    ev.events = EPOLLIN | (c.out.empty() ? 0u : static_cast<std::uint32_t>(EPOLLOUT));
    ev.data.u64 = i;
    ::epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev);
  };

  const auto interval =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / rate));
  const auto start = Clock::now();
  const auto stop_sending =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  const auto give_up = stop_sending + std::chrono::seconds(10);
  auto next_due = start;
  std::deque<Clock::time_point> backlog;  // due, waiting for a free connection
  std::vector<std::size_t> idle;
  for (std::size_t i = 0; i < conns.size(); ++i) idle.push_back(i);
  std::vector<double> latencies;
  std::map<int, long> statuses;
  long scheduled = 0, reconnects = 0;
  std::size_t in_flight = 0;
  Clock::time_point last_answer = start;
  std::vector<epoll_event> events(static_cast<std::size_t>(connections));

  for (;;) {
    const auto now = Clock::now();
    while (next_due <= now && next_due < stop_sending) {
      backlog.push_back(next_due);
      ++scheduled;
      next_due += interval;
    }
    while (!backlog.empty() && !idle.empty()) {
      const std::size_t i = idle.back();
      idle.pop_back();
      conns[i].busy = true;
      conns[i].due = backlog.front();
      backlog.pop_front();
      conns[i].out = build_request();
      ++in_flight;
      flush(i);
    }
    if (now >= give_up || (now >= stop_sending && in_flight == 0 && backlog.empty())) break;
    int timeout_ms = 10;
    if (next_due < stop_sending && next_due > now) {
      timeout_ms = static_cast<int>(
          std::chrono::duration_cast<std::chrono::milliseconds>(next_due - now).count());
    } else if (next_due <= now && next_due < stop_sending) {
      timeout_ms = 0;
    }
    const int n = ::epoll_wait(ep, events.data(), connections, timeout_ms);
    for (int k = 0; k < n; ++k) {
      const std::size_t i = events[static_cast<std::size_t>(k)].data.u64;
      Conn& c = conns[i];
      if ((events[static_cast<std::size_t>(k)].events & EPOLLOUT) != 0) flush(i);
      if ((events[static_cast<std::size_t>(k)].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) == 0) {
        continue;
      }
      const bool closed = loadgen::receive_all(c.fd, c.in);
      loadgen::Response r;
      if (const std::size_t used = loadgen::complete_response(c.in, r); used > 0 && c.busy) {
        const auto answered = Clock::now();
        latencies.push_back(ms_between(c.due, answered));
        ++statuses[r.status];
        last_answer = answered;
        c.in.erase(0, used);
        c.busy = false;
        --in_flight;
        idle.push_back(i);
      }
      if (closed) {
        // The server closed the connection: what was in flight is lost; carry on with a new one.
        ::epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
        ::close(c.fd);
        if (c.busy) {
          ++statuses[0];
          --in_flight;
          c.busy = false;
          idle.push_back(i);
        }
        c.in.clear();
        c.out.clear();
        c.fd = connect_to(host, port);
        ++reconnects;
        if (c.fd < 0) {
          std::fprintf(stderr, "reconnect failed: %s\n", std::strerror(errno));
          return 1;
        }
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = i;
        ::epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
      }
    }
  }

  const double window = std::max(1e-3, ms_between(start, last_answer) / 1000.0);
  std::printf(
      "{\"connections\": %d, \"offered_rps\": %.0f, \"seconds\": %.0f, \"scheduled\": %ld, "
      "\"answered\": %zu, \"achieved_rps\": %.0f, \"p50_ms\": %.2f, \"p90_ms\": %.2f, "
      "\"p99_ms\": %.2f, \"max_ms\": %.2f, \"never_sent\": %zu, \"unanswered\": %zu, "
      "\"reconnects\": %ld, \"statuses\": {",
      connections, rate, seconds, scheduled, latencies.size(),
      static_cast<double>(latencies.size()) / window, percentile(latencies, 0.50),
      percentile(latencies, 0.90), percentile(latencies, 0.99), percentile(latencies, 1.0),
      backlog.size(), in_flight, reconnects);
  bool first = true;
  for (const auto& [status, count] : statuses) {
    std::printf("%s\"%d\": %ld", first ? "" : ", ", status, count);
    first = false;
  }
  std::printf("}}\n");
  return 0;
}
