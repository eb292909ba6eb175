#pragma once
// What the epoll load generators of bench/ share: token and seat files, non-blocking keep-alive
// connections, HTTP/1.1 responses read off a buffer, percentiles.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace loadgen {

using Clock = std::chrono::steady_clock;

inline double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// The non-empty lines of a file.
inline std::vector<std::string> read_lines(const char* path) {
  std::vector<std::string> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

// A connected, non-blocking TCP socket with Nagle off, or -1.
inline int connect_to(const char* host, int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::inet_pton(AF_INET, host, &addr.sin_addr) != 1 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

// Sends what the socket takes now; the rest stays in `out`.
inline void send_some(int fd, std::string& out) {
  while (!out.empty()) {
    const auto n = ::send(fd, out.data(), out.size(), MSG_NOSIGNAL);
    if (n <= 0) break;
    out.erase(0, static_cast<std::size_t>(n));
  }
}

// Appends everything readable now to `in`; true when the peer closed (or the socket failed).
inline bool receive_all(int fd, std::string& in) {
  char buf[16384];
  for (;;) {
    const auto got = ::recv(fd, buf, sizeof buf, 0);
    if (got > 0) {
      in.append(buf, static_cast<std::size_t>(got));
      continue;
    }
    return got == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
  }
}

inline double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
}

struct Response {
  int status = 0;
  std::string head;  // lower-cased
  std::string body;
};

// A complete response (Content-Length framed) at the front of `buf`: its length, 0 while
// incomplete.
inline std::size_t complete_response(const std::string& buf, Response& r) {
  const auto end = buf.find("\r\n\r\n");
  if (end == std::string::npos || buf.size() < 12) return 0;
  std::string head = buf.substr(0, end);
  std::transform(head.begin(), head.end(), head.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::size_t length = 0;
  if (const auto at = head.find("\r\ncontent-length:"); at != std::string::npos) {
    length = static_cast<std::size_t>(std::strtoull(head.c_str() + at + 17, nullptr, 10));
  }
  const std::size_t total = end + 4 + length;
  if (buf.size() < total) return 0;
  r.status = std::atoi(buf.c_str() + 9);  // "HTTP/1.1 201"
  r.head = std::move(head);
  r.body = buf.substr(end + 4, length);
  return total;
}

}  // namespace loadgen
