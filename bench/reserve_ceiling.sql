-- bench_lean: the minimal schema of bench/reserve's lean_ceiling phase.
--
-- The ceiling a reservation is measured against: what one hold costs PostgreSQL when it is a
-- single statement on tables that have only what the job cannot do without (primary keys, the
-- idempotency key's unique index, the item -> reservation foreign key), none of ticketd's rules
-- (sales window, active-hold limit, replay, GA slots, org scoping, JSON replies). The statement
-- itself is the pgbench script bench/reserve writes (lean.sql); this file only creates and fills
-- the tables. Run by bench/reserve after bench_seats and bench_event are filled
-- (psql -v ON_ERROR_STOP=1 -f bench/reserve_ceiling.sql); safe to run again at any time: it
-- leaves every seat AVAILABLE and the written tables empty.
SET client_min_messages = warning;  -- no "does not exist, skipping" on a first run
CREATE SCHEMA IF NOT EXISTS bench_lean;

-- The written tables start empty on each run and take this file's shape; dropping them is
-- cheaper than deleting whatever an earlier run wrote.
DROP TABLE IF EXISTS bench_lean.reservation_items, bench_lean.outbox, bench_lean.reservations;

-- The 1,000,000 seats are expensive to refill (several seconds), so they are kept while they
-- still mirror bench_seats (same ids, same event) and this file's definition (the table comment
-- names the version; change it when the definition below changes).
DO $$
BEGIN
  -- Nested: the inner condition names the table, so it can only be planned once it exists.
  IF to_regclass('bench_lean.seats') IS NOT NULL THEN
    IF obj_description('bench_lean.seats'::regclass, 'pg_class') IS DISTINCT FROM 'bench_lean v1'
       OR (SELECT count(*) FROM bench_lean.seats) <> (SELECT count(*) FROM bench_seats)
       OR EXISTS (SELECT 1 FROM bench_seats b
                   WHERE NOT EXISTS (SELECT 1 FROM bench_lean.seats s
                                      WHERE s.id = b.id
                                        AND s.event_id = (SELECT id FROM bench_event))) THEN
      DROP TABLE bench_lean.seats;
    END IF;
  END IF;
END
$$;

CREATE TABLE IF NOT EXISTS bench_lean.seats (
  id             uuid PRIMARY KEY,
  event_id       uuid NOT NULL,
  status         text NOT NULL DEFAULT 'AVAILABLE',
  reservation_id uuid,
  reserved_until timestamptz,
  price_cents    bigint NOT NULL
);
COMMENT ON TABLE bench_lean.seats IS 'bench_lean v1';

CREATE TABLE bench_lean.reservations (
  id              uuid PRIMARY KEY,
  user_id         uuid NOT NULL,
  event_id        uuid NOT NULL,
  idempotency_key text NOT NULL,
  status          text NOT NULL,
  expires_at      timestamptz NOT NULL,
  total_cents     bigint NOT NULL,
  UNIQUE (user_id, idempotency_key)   -- what makes a retried request a replay, not a second hold
);

CREATE TABLE bench_lean.reservation_items (
  id             uuid PRIMARY KEY,
  reservation_id uuid NOT NULL REFERENCES bench_lean.reservations,
  seat_id        uuid NOT NULL,
  price_cents    bigint NOT NULL
);

CREATE TABLE bench_lean.outbox (
  id           uuid PRIMARY KEY,
  seq          bigint GENERATED ALWAYS AS IDENTITY,   -- the publisher's order
  topic        text NOT NULL,
  aggregate_id uuid NOT NULL,
  payload      jsonb NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now()
);

-- Same seat ids as the real event (bench_seats), so the pgbench script picks a seat by n with
-- the same lookup as the reserve_quietly() phase; price = the real seat's price + fees.
INSERT INTO bench_lean.seats (id, event_id, price_cents)
SELECT b.id, e.id, 5500
  FROM bench_seats b CROSS JOIN (SELECT id FROM bench_event LIMIT 1) e
 WHERE NOT EXISTS (SELECT 1 FROM bench_lean.seats LIMIT 1);

-- Kept seats: release what an earlier run held.
UPDATE bench_lean.seats SET status = 'AVAILABLE', reservation_id = NULL, reserved_until = NULL
 WHERE status <> 'AVAILABLE';

-- Statistics and a clean visibility map before the first measurement, so neither the planner
-- nor an autovacuum in the middle of a run depends on what happened just before.
VACUUM (ANALYZE) bench_lean.seats, bench_lean.reservations, bench_lean.reservation_items,
  bench_lean.outbox;
