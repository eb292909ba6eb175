#pragma once
// The reservation integration tests' fixture: a published event with 4 priced seats and a GA
// type of capacity 10 (3 slots), plus users, created through SQL on the test database.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <future>
#include <string>
#include <vector>

#include "core/ids.hpp"
#include "infra/pg/pool.hpp"
#include "modules/reservations/model.hpp"
#include "support/async.hpp"

namespace ticketd::reservations::fixture {

namespace asio = boost::asio;
using ticketd::testing::AsyncRunner;

inline infra::pg::PoolOptions pool_options(std::size_t size = 8) {
  infra::pg::PoolOptions o;
  o.connect.url = ticketd::testing::test_database_url();
  o.max_size = size;
  return o;
}

struct World {
  std::string org, event, ga;
  std::vector<std::string> seats;
  std::vector<std::string> users;
};

inline World make_world(AsyncRunner& rt, infra::pg::Pool& pool, int users) {
  World w;
  w.org = core::new_uuid();
  w.event = core::new_uuid();
  w.ga = core::new_uuid();
  const std::string venue = core::new_uuid(), section = core::new_uuid(), row = core::new_uuid();
  const std::string seated = core::new_uuid();
  std::string sql = "BEGIN;";
  sql += "INSERT INTO organizations (id, name, slug) VALUES ('" + w.org + "', 'T', 't-" + w.org +
         "');";
  sql += "INSERT INTO venues (id, org_id, name) VALUES ('" + venue + "', '" + w.org + "', 'V');";
  sql += "INSERT INTO venue_sections (id, venue_id, org_id, name, code) VALUES ('" + section +
         "', '" + venue + "', '" + w.org + "', 'S', 'S');";
  sql += "INSERT INTO venue_rows (id, section_id, venue_id, org_id, name) VALUES ('" + row +
         "', '" + section + "', '" + venue + "', '" + w.org + "', 'A');";
  sql +=
      "INSERT INTO venue_seats (row_id, section_id, venue_id, org_id, seat_number, seat_code) "
      "SELECT '" +
      row + "', '" + section + "', '" + venue + "', '" + w.org +
      "', n, 'S-A-' || n FROM generate_series(1, 4) n;";
  sql +=
      "INSERT INTO events (id, org_id, venue_id, title, status, starts_at, published_at) VALUES "
      "('" +
      w.event + "', '" + w.org + "', '" + venue +
      "', 'E', 'PUBLISHED', now() + interval '30 days', now());";
  sql +=
      "INSERT INTO event_ticket_types (id, event_id, org_id, name, kind, price_cents, fees_cents) "
      "VALUES ('" +
      seated + "', '" + w.event + "', '" + w.org + "', 'Seat', 'SEATED', 1000, 100);";
  sql +=
      "INSERT INTO event_ticket_types (id, event_id, org_id, name, kind, price_cents, "
      "total_capacity) "
      "VALUES ('" +
      w.ga + "', '" + w.event + "', '" + w.org + "', 'GA', 'GA', 500, 10);";
  sql +=
      "INSERT INTO event_ticket_type_slots (ticket_type_id, slot, org_id, event_id, capacity) "
      "VALUES ('" +
      w.ga + "', 0, '" + w.org + "', '" + w.event + "', 4), ('" + w.ga + "', 1, '" + w.org +
      "', '" + w.event + "', 3), ('" + w.ga + "', 2, '" + w.org + "', '" + w.event + "', 3);";
  sql +=
      "INSERT INTO event_seats (event_id, org_id, venue_id, venue_seat_id, section_id, row_id, "
      "seat_code, seat_number, section_sort, row_sort, ticket_type_id) SELECT '" +
      w.event + "', org_id, venue_id, id, section_id, row_id, seat_code, seat_number, 0, 0, '" +
      seated + "' FROM venue_seats WHERE venue_id = '" + venue + "';";
  for (int i = 0; i < users; ++i) {
    const auto id = core::new_uuid();
    w.users.push_back(id);
    sql += "INSERT INTO users (id, email, password_hash) VALUES ('" + id + "', 'u-" + id +
           "@example.com', 'x');";
  }
  sql += "COMMIT;";
  rt.run([&]() -> asio::awaitable<void> {
    auto lease = co_await pool.acquire();
    co_await lease->exec(sql);
    infra::pg::Params params(w.event);
    constexpr infra::pg::Statement kSeats{
        "test_world_seats", "SELECT id FROM event_seats WHERE event_id = $1 ORDER BY seat_number"};
    auto r = co_await lease->query(kSeats, params);
    for (int i = 0; i < r.rows(); ++i) w.seats.push_back(r.string(i, 0));
  });
  return w;
}

inline ReserveInput input(const World& w, int user, std::string key, std::vector<std::string> seats,
                          std::vector<GaItem> items = {}) {
  ReserveInput in;
  in.user_id = w.users[static_cast<std::size_t>(user)];
  in.event_id = w.event;
  in.idempotency_key = std::move(key);
  in.request_hash = "hash-" + std::to_string(seats.size()) + "-" + std::to_string(items.size());
  in.seat_ids = std::move(seats);
  in.items = std::move(items);
  in.correlation_id = "test";
  return in;
}

// Another session holding locks: runs `sql` inside an open transaction on its own pooled
// connection and keeps it open (so its row and advisory locks stay held) until release(), then
// rolls back. Polls for the release rather than blocking: its strand's thread is shared with the
// code under test.
class LockHolder {
 public:
  LockHolder(AsyncRunner& rt, infra::pg::Pool& pool, std::string sql) {
    done_ = asio::co_spawn(
        asio::make_strand(rt.ioc()),
        [this, &pool, sql = std::move(sql)]() -> asio::awaitable<void> {
          auto lease = co_await pool.acquire();
          co_await lease->exec("BEGIN");
          co_await lease->exec(sql);
          locked_.set_value();
          auto released = release_.get_future();
          auto executor = co_await asio::this_coro::executor;
          asio::steady_timer t(executor);
          while (released.wait_for(std::chrono::milliseconds(0)) != std::future_status::ready) {
            t.expires_after(std::chrono::milliseconds(5));
            co_await t.async_wait(asio::use_awaitable);
          }
          co_await lease->exec("ROLLBACK");
        },
        asio::use_future);
    locked_.get_future().wait();
  }
  LockHolder(const LockHolder&) = delete;
  LockHolder& operator=(const LockHolder&) = delete;
  ~LockHolder() { release(); }

  void release() {
    if (released_) return;
    released_ = true;
    release_.set_value();
    done_.get();
  }

 private:
  std::promise<void> locked_, release_;
  std::future<void> done_;
  bool released_ = false;
};

}  // namespace ticketd::reservations::fixture
