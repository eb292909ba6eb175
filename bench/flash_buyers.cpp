// bench/flash_buyers: a flash sale's buyers, for bench/flashsale. Every line of TOKENS_FILE is one
// buyer (one user); buyers arrive at uniformly random moments within WINDOW seconds and, like a
// browser, act on what the server answers:
//   direct: reserve one seat it believes free (it starts from SEATS_FILE, the public seat map, and
//           learns from 201s and 409s), up to 3 attempts;
//   queue:  join the waiting room (POST /events/:id/queue), ask again after retryAfterMs while
//           WAITING, reserve as above with X-Admission-Token once ADMITTED, stop at SOLD_OUT;
//           a 429 QUEUE_REQUIRED sends it back to the queue.
// A 503 (shed) is retried after its Retry-After. Requests share CONNECTIONS keep-alive connections
// on one epoll thread; a request's latency counts from the moment the buyer was ready to send it
// (waiting for a free connection counts too: no coordinated omission).
//
//   flash_buyers HOST PORT CONNECTIONS EVENT_ID SEATS_FILE TOKENS_FILE WINDOW MODE RECORDS_FILE
//
// Prints one JSON summary; RECORDS_FILE gets one tab-separated line per buyer (times in ms from
// the start): buyer, arrived, first join sent, admitted seen, last WAITING poll sent, held,
// outcome, polls, reserve attempts, latency of the last reserve.
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <queue>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "loadgen.hpp"

namespace {

using loadgen::Clock;
using loadgen::complete_response;
using loadgen::connect_to;
using loadgen::ms_between;
using loadgen::percentile;
using loadgen::read_lines;
using loadgen::Response;

// The value of a JSON string member `"name":"..."` (first occurrence), or "".
std::string json_string(const std::string& body, std::string_view name) {
  const std::string key = "\"" + std::string(name) + "\":\"";
  const auto at = body.find(key);
  if (at == std::string::npos) return {};
  const auto from = at + key.size();
  const auto to = body.find('"', from);
  return to == std::string::npos ? std::string{} : body.substr(from, to - from);
}

long json_integer(const std::string& body, std::string_view name, long fallback) {
  const std::string key = "\"" + std::string(name) + "\":";
  const auto at = body.find(key);
  if (at == std::string::npos) return fallback;
  char* end = nullptr;
  const long v = std::strtol(body.c_str() + at + key.size(), &end, 10);
  return end == body.c_str() + at + key.size() ? fallback : v;
}

long retry_after_ms(const Response& r, long fallback) {
  const auto at = r.head.find("\r\nretry-after:");
  if (at == std::string::npos) return fallback;
  return std::strtol(r.head.c_str() + at + 14, nullptr, 10) * 1000;
}

enum class Step { kJoin, kReserve };

struct Buyer {
  double arrived = -1, first_join = -1, admitted = -1, last_waiting = -1, held = -1;
  double reserve_ms = -1;  // latency of its last reserve
  std::string outcome = "NONE";
  int polls = 0, attempts = 0;
  Step step = Step::kJoin;
  std::string pass;  // admission token
  std::string seat;  // of the reserve in flight
};

struct Conn {
  int fd = -1;
  long buyer = -1;  // in flight, or -1
  Step step = Step::kJoin;
  Clock::time_point ready;  // the buyer's, since when it waits to send
  Clock::time_point sent;
  std::string out;
  std::string in;
};

struct Due {
  Clock::time_point at;
  long buyer;
  bool operator>(const Due& o) const { return at > o.at; }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 10) {
    std::fprintf(stderr,
                 "usage: %s HOST PORT CONNECTIONS EVENT_ID SEATS_FILE TOKENS_FILE WINDOW MODE "
                 "RECORDS_FILE\n",
                 argv[0]);
    return 2;
  }
  const char* host = argv[1];
  const int port = std::atoi(argv[2]);
  const int connections = std::max(1, std::atoi(argv[3]));
  const std::string event = argv[4];
  const auto all_seats = read_lines(argv[5]);
  const auto tokens = read_lines(argv[6]);
  const double window = std::max(0.0, std::atof(argv[7]));
  const bool queue = std::string_view(argv[8]) == "queue";
  const char* records_path = argv[9];
  if (all_seats.empty() || tokens.empty()) {
    std::fprintf(stderr, "no seats or no buyers\n");
    return 2;
  }

  // What buyers believe is free: the seat map at the start, minus what they learn. Seats are
  // picked at random among these (swap-remove keeps it O(1)).
  std::vector<std::string> free_seats = all_seats;
  std::unordered_map<std::string, std::size_t> where;
  for (std::size_t i = 0; i < free_seats.size(); ++i) where[free_seats[i]] = i;
  auto forget_seat = [&](const std::string& seat) {
    auto it = where.find(seat);
    if (it == where.end()) return;
    const std::size_t i = it->second;
    where.erase(it);
    if (i + 1 != free_seats.size()) {
      free_seats[i] = std::move(free_seats.back());
      where[free_seats[i]] = i;
    }
    free_seats.pop_back();
  };

  const int ep = ::epoll_create1(0);
  std::vector<Conn> conns(static_cast<std::size_t>(connections));
  auto watch = [&](std::size_t i, int op) {
    epoll_event ev{};
    ev.events = EPOLLIN | (conns[i].out.empty() ? 0u : static_cast<std::uint32_t>(EPOLLOUT));
    ev.data.u64 = i;
    ::epoll_ctl(ep, op, conns[i].fd, &ev);
  };
  for (std::size_t i = 0; i < conns.size(); ++i) {
    conns[i].fd = connect_to(host, port);
    if (conns[i].fd < 0) {
      std::fprintf(stderr, "connect failed: %s\n", std::strerror(errno));
      return 1;
    }
    watch(i, EPOLL_CTL_ADD);
  }

  std::mt19937_64 rng(std::random_device{}());
  const std::string tag = std::to_string(rng() % 1'000'000'000);
  std::uint64_t counter = 0;
  const auto start = Clock::now();
  auto now_ms = [&] { return ms_between(start, Clock::now()); };

  std::vector<Buyer> buyers(tokens.size());
  std::priority_queue<Due, std::vector<Due>, std::greater<>> timers;
  {
    std::uniform_real_distribution<double> when(0.0, window * 1000.0);
    for (std::size_t b = 0; b < buyers.size(); ++b) {
      const auto at = start + std::chrono::duration_cast<Clock::duration>(
                                  std::chrono::duration<double, std::milli>(when(rng)));
      timers.push(Due{at, static_cast<long>(b)});
      buyers[b].step = queue ? Step::kJoin : Step::kReserve;
    }
  }
  std::deque<std::pair<long, Clock::time_point>> ready;  // buyer, since when
  std::vector<std::size_t> idle;
  for (std::size_t i = 0; i < conns.size(); ++i) idle.push_back(i);
  std::vector<double> reserve_ms, join_ms;
  std::map<std::string, long> statuses;  // "join 200", "reserve 201", ...
  long reconnects = 0, finished = 0, holds = 0, in_flight = 0;
  double last_hold = 0;
  const long total = static_cast<long>(buyers.size());

  auto later = [&](long b, long delay_ms) {
    timers.push(Due{Clock::now() + std::chrono::milliseconds(std::max(0L, delay_ms)), b});
  };
  auto finish = [&](long b, const char* outcome) {
    buyers[static_cast<std::size_t>(b)].outcome = outcome;
    ++finished;
  };
  auto build = [&](long b, Conn& c) {
    Buyer& buyer = buyers[static_cast<std::size_t>(b)];
    const std::string& token = tokens[static_cast<std::size_t>(b)];
    std::string head, body;
    if (buyer.step == Step::kJoin) {
      if (buyer.first_join < 0) buyer.first_join = now_ms();
      head = "POST /api/v1/events/" + event + "/queue HTTP/1.1\r\n";
    } else {
      buyer.seat = free_seats[rng() % free_seats.size()];
      ++buyer.attempts;
      body = R"({"eventId":")" + event + R"(","seatIds":[")" + buyer.seat +
             R"("],"idempotencyKey":"flash-)" + tag + "-" + std::to_string(++counter) + R"("})";
      head = "POST /api/v1/reservations HTTP/1.1\r\n";
      if (!buyer.pass.empty()) head += "X-Admission-Token: " + buyer.pass + "\r\n";
    }
    c.out = head + "Host: " + host + "\r\nAuthorization: Bearer " + token +
            "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
            "\r\n\r\n" + body;
    c.step = buyer.step;
  };
  // What a buyer does with an answer.
  auto on_answer = [&](long b, Step step, const Response& r, double latency, double sent) {
    Buyer& buyer = buyers[static_cast<std::size_t>(b)];
    const double t = now_ms();
    ++statuses[std::string(step == Step::kJoin ? "join " : "reserve ") + std::to_string(r.status)];
    if (r.status == 503) {
      later(b, retry_after_ms(r, 1000));
      return;
    }
    if (step == Step::kJoin) {
      join_ms.push_back(latency);
      ++buyer.polls;
      if (r.status != 200) {
        finish(b, "JOIN_FAILED");
        return;
      }
      const std::string status = json_string(r.body, "status");
      if (status == "WAITING") {
        buyer.last_waiting = sent;  // sent, not answered: it was still waiting when asked
        later(b, json_integer(r.body, "retryAfterMs", 1000));
      } else if (status == "ADMITTED" || status == "OPEN") {
        if (status == "ADMITTED") {
          if (buyer.admitted < 0) buyer.admitted = t;
          buyer.pass = json_string(r.body, "admissionToken");
        }
        buyer.step = Step::kReserve;
        later(b, 0);
      } else {
        finish(b, status == "SOLD_OUT" ? "SOLD_OUT" : "JOIN_FAILED");
      }
      return;
    }
    reserve_ms.push_back(latency);
    buyer.reserve_ms = latency;
    if (r.status == 201) {
      forget_seat(buyer.seat);
      buyer.held = t;
      last_hold = std::max(last_hold, t);
      ++holds;
      finish(b, "HELD");
    } else if (r.status == 409) {
      forget_seat(buyer.seat);
      if (buyer.attempts >= 3 || free_seats.empty()) {
        finish(b, free_seats.empty() ? "SOLD_OUT" : "GAVE_UP");
      } else {
        later(b, 0);
      }
    } else if (r.status == 429 && json_string(r.body, "code") == "QUEUE_REQUIRED") {
      buyer.step = Step::kJoin;
      later(b, retry_after_ms(r, 1000));
    } else {
      finish(b, "RESERVE_FAILED");
    }
  };

  std::vector<epoll_event> events(static_cast<std::size_t>(connections));
  const auto give_up = start + std::chrono::seconds(static_cast<long>(window) + 120);
  while (finished < total && Clock::now() < give_up) {
    const auto now = Clock::now();
    while (!timers.empty() && timers.top().at <= now) {
      const long b = timers.top().buyer;
      const auto at = timers.top().at;
      timers.pop();
      Buyer& buyer = buyers[static_cast<std::size_t>(b)];
      if (buyer.arrived < 0) buyer.arrived = ms_between(start, at);
      if (buyer.step == Step::kReserve && free_seats.empty()) {
        finish(b, "SOLD_OUT");
        continue;
      }
      ready.emplace_back(b, at);
    }
    while (!ready.empty() && !idle.empty()) {
      const std::size_t i = idle.back();
      idle.pop_back();
      auto [b, since] = ready.front();
      ready.pop_front();
      Buyer& buyer = buyers[static_cast<std::size_t>(b)];
      if (buyer.step == Step::kReserve && free_seats.empty()) {
        finish(b, "SOLD_OUT");
        idle.push_back(i);
        continue;
      }
      conns[i].buyer = b;
      conns[i].ready = since;
      conns[i].sent = Clock::now();
      build(b, conns[i]);
      ++in_flight;
      loadgen::send_some(conns[i].fd, conns[i].out);
      watch(i, EPOLL_CTL_MOD);
    }
    int timeout_ms = 50;
    if (!timers.empty()) {
      // Rounded up: rounded down, a timer less than 1 ms away spins the loop until it is due.
      const auto wait =
          std::chrono::ceil<std::chrono::milliseconds>(timers.top().at - Clock::now());
      timeout_ms = static_cast<int>(std::clamp<long>(wait.count(), 0, 50));
    }
    const int n = ::epoll_wait(ep, events.data(), connections, timeout_ms);
    for (int k = 0; k < n; ++k) {
      const auto& ev = events[static_cast<std::size_t>(k)];
      const std::size_t i = ev.data.u64;
      Conn& c = conns[i];
      if ((ev.events & EPOLLOUT) != 0) {
        loadgen::send_some(c.fd, c.out);
        watch(i, EPOLL_CTL_MOD);
      }
      if ((ev.events & (EPOLLIN | EPOLLHUP | EPOLLERR)) == 0) continue;
      const bool closed = loadgen::receive_all(c.fd, c.in);
      Response r;
      if (const std::size_t used = complete_response(c.in, r); used > 0 && c.buyer >= 0) {
        const long b = c.buyer;
        c.buyer = -1;
        c.in.erase(0, used);
        --in_flight;
        idle.push_back(i);
        on_answer(b, c.step, r, ms_between(c.ready, Clock::now()), ms_between(start, c.sent));
      }
      if (closed) {
        // The server closed the connection: the buyer in flight tries again on a new one.
        ::epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
        ::close(c.fd);
        if (c.buyer >= 0) {
          ++statuses["connection lost"];
          --in_flight;
          later(c.buyer, 0);
          c.buyer = -1;
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
        watch(i, EPOLL_CTL_ADD);
      }
    }
  }

  std::map<std::string, long> outcomes;
  if (FILE* out = std::fopen(records_path, "w"); out != nullptr) {
    for (std::size_t b = 0; b < buyers.size(); ++b) {
      const Buyer& x = buyers[b];
      ++outcomes[x.outcome];
      std::fprintf(out, "%zu\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%s\t%d\t%d\t%.3f\n", b, x.arrived,
                   x.first_join, x.admitted, x.last_waiting, x.held, x.outcome.c_str(), x.polls,
                   x.attempts, x.reserve_ms);
    }
    std::fclose(out);
  }
  std::printf(
      "{\"mode\": \"%s\", \"buyers\": %ld, \"seats\": %zu, \"connections\": %d, "
      "\"window_s\": %.1f, \"holds\": %ld, \"sell_out_s\": %.3f, \"reserve_requests\": %zu, "
      "\"reserve_p50_ms\": %.2f, \"reserve_p99_ms\": %.2f, \"reserve_max_ms\": %.2f, "
      "\"queue_requests\": %zu, \"queue_p50_ms\": %.2f, \"queue_p99_ms\": %.2f, "
      "\"unfinished\": %ld, \"in_flight_at_end\": %ld, \"reconnects\": %ld, \"statuses\": {",
      queue ? "queue" : "direct", total, all_seats.size(), connections, window, holds,
      last_hold / 1000.0, reserve_ms.size(), percentile(reserve_ms, 0.50),
      percentile(reserve_ms, 0.99), percentile(reserve_ms, 1.0), join_ms.size(),
      percentile(join_ms, 0.50), percentile(join_ms, 0.99), total - finished, in_flight,
      reconnects);
  bool first = true;
  for (const auto& [status, count] : statuses) {
    std::printf("%s\"%s\": %ld", first ? "" : ", ", status.c_str(), count);
    first = false;
  }
  std::printf("}, \"outcomes\": {");
  first = true;
  for (const auto& [outcome, count] : outcomes) {
    std::printf("%s\"%s\": %ld", first ? "" : ", ", outcome.c_str(), count);
    first = false;
  }
  std::printf("}}\n");
  return 0;
}
