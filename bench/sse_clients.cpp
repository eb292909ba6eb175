// bench/sse_clients: N concurrent SSE clients of one event on one epoll loop (one thread), for
// bench/sse. Each connection asks GET /api/v1/events/<id>/stream over HTTP/1.0 (a plain body, no
// chunk framing) and splits the body into messages. For every `seat.updated` message it records
// now − version (version = the epoch milliseconds stamped right after the change committed).
//
//   sse_clients HOST PORT EVENT_ID CLIENTS EXPECTED_UPDATES TIMEOUT_S
//
// Prints "ready N" on stderr once every client has its snapshot (the driver then starts the
// changes), and on stdout one JSON object when every client has EXPECTED_UPDATES updates or the
// timeout passed: delivered count, delay percentiles in ms, clients that ended early.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "loadgen.hpp"

using loadgen::percentile;

namespace {

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct Conn {
  int fd = -1;
  std::string buf;
  bool header_done = false;
  bool snapshot = false;
  bool done = false;
  long updates = 0;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 7) {
    std::fprintf(stderr, "usage: %s HOST PORT EVENT_ID CLIENTS EXPECTED_UPDATES TIMEOUT_S\n",
                 argv[0]);
    return 2;
  }
  const char* host = argv[1];
  const int port = std::atoi(argv[2]);
  const std::string event_id = argv[3];
  const int clients = std::atoi(argv[4]);
  const long expected = std::atol(argv[5]);
  const int timeout_s = std::atoi(argv[6]);

  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = std::min<rlim_t>(rl.rlim_max, static_cast<rlim_t>(clients) + 64);
  setrlimit(RLIMIT_NOFILE, &rl);

  const int ep = epoll_create1(0);
  std::vector<Conn> conns(static_cast<std::size_t>(clients));
  const std::string request =
      "GET /api/v1/events/" + event_id + "/stream HTTP/1.0\r\nHost: bench\r\n\r\n";
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  inet_pton(AF_INET, host, &addr.sin_addr);
  for (int i = 0; i < clients; ++i) {
    Conn& c = conns[static_cast<std::size_t>(i)];
    c.fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c.fd < 0 || connect(c.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      std::fprintf(stderr, "connect %d failed: %s\n", i, std::strerror(errno));
      return 1;
    }
    if (write(c.fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
      std::fprintf(stderr, "request %d failed\n", i);
      return 1;
    }
    fcntl(c.fd, F_SETFL, fcntl(c.fd, F_GETFL) | O_NONBLOCK);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = static_cast<std::uint32_t>(i);
    epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
  }

  std::vector<double> delays_ms;
  delays_ms.reserve(static_cast<std::size_t>(clients) * static_cast<std::size_t>(expected) + 16);
  int with_snapshot = 0;
  int finished = 0;
  int ended_early = 0;
  bool announced = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  std::vector<epoll_event> events(1024);
  char chunk[65536];
  while (finished + ended_early < clients && std::chrono::steady_clock::now() < deadline) {
    const int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), 200);
    for (int e = 0; e < n; ++e) {
      Conn& c = conns[events[static_cast<std::size_t>(e)].data.u32];
      for (;;) {
        const ssize_t got = read(c.fd, chunk, sizeof chunk);
        if (got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
          if (!c.done) ++ended_early;
          c.done = true;
          epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
          break;
        }
        if (got < 0) break;
        const std::int64_t at = now_us();
        c.buf.append(chunk, static_cast<std::size_t>(got));
        if (!c.header_done) {
          const auto end = c.buf.find("\r\n\r\n");
          if (end == std::string::npos) continue;
          if (!c.buf.starts_with("HTTP/1.0 200") && !c.buf.starts_with("HTTP/1.1 200")) {
            std::fprintf(stderr, "stream refused: %.60s\n", c.buf.c_str());
            return 1;
          }
          c.buf.erase(0, end + 4);
          c.header_done = true;
        }
        std::size_t pos = 0;
        for (;;) {
          const auto end = c.buf.find("\n\n", pos);
          if (end == std::string::npos) break;
          const std::string_view msg(c.buf.data() + pos, end - pos);
          if (msg.find("event: snapshot\n") != std::string_view::npos && !c.snapshot) {
            c.snapshot = true;
            ++with_snapshot;
          } else if (msg.find("event: seat.updated\n") != std::string_view::npos) {
            const auto v = msg.find("\"version\":");
            if (v != std::string_view::npos) {
              const long long version = std::atoll(msg.data() + v + 10);
              delays_ms.push_back(static_cast<double>(at - version * 1000) / 1000.0);
            }
            if (++c.updates == expected && !c.done) ++finished;
          }
          pos = end + 2;
        }
        c.buf.erase(0, pos);
      }
    }
    if (!announced && with_snapshot == clients) {
      announced = true;
      std::fprintf(stderr, "ready %d\n", clients);
      std::fflush(stderr);
    }
  }
  std::vector<double> sorted = delays_ms;
  const double p50 = percentile(sorted, 0.50);
  const double p99 = percentile(sorted, 0.99);
  const double max = sorted.empty() ? 0 : *std::max_element(sorted.begin(), sorted.end());
  std::printf(
      "{\"clients\":%d,\"withSnapshot\":%d,\"finished\":%d,\"endedEarly\":%d,"
      "\"delivered\":%zu,\"delayMs\":{\"p50\":%.2f,\"p99\":%.2f,\"max\":%.2f}}\n",
      clients, with_snapshot, finished, ended_early, delays_ms.size(), p50, p99, max);
  for (auto& c : conns) close(c.fd);
  return finished == clients ? 0 : 3;
}
