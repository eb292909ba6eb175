-- 0003: per-event seat inventory, reservations (holds), payments and webhooks, orders,
-- tickets, and the generic idempotency store.
--
-- Consistency rule: every child of an event carries (event_id, org_id) and references its
-- parent through a composite FK that includes them, so a reservation item, payment, order
-- or ticket can never point at a seat, ticket type or reservation of another event or
-- organization, even if the C++ is wrong.

-- ---------------------------------------------------------------------------------------
-- reservations: a hold on seats and/or GA quantity, ACTIVE until expires_at.
-- ---------------------------------------------------------------------------------------
CREATE TABLE reservations (
  id              uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
  event_id        uuid        NOT NULL,
  org_id          uuid        NOT NULL,
  user_id         uuid        NOT NULL REFERENCES users (id),
  status          text        NOT NULL DEFAULT 'ACTIVE',
  -- Client-chosen key (body field or Idempotency-Key header). (user_id, key) identifies
  -- one reservation (invariant 3): a retried request finds the existing row.
  idempotency_key text        NOT NULL,
  -- Hash of the normalized request body: same key + different hash answers
  -- 422 IDEMPOTENCY_KEY_REUSED instead of replaying.
  request_hash    text        NOT NULL,
  -- database clock: now() + RESERVATION_TTL_SECONDS
  expires_at      timestamptz NOT NULL,
  total_cents     bigint      NOT NULL DEFAULT 0,
  currency        char(3)     NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  confirmed_at    timestamptz,
  cancelled_at    timestamptz,
  expired_at      timestamptz,
  CONSTRAINT reservations_event_fkey FOREIGN KEY (event_id, org_id) REFERENCES events (id, org_id),
  CONSTRAINT reservations_user_idempotency_key_key UNIQUE (user_id, idempotency_key),
  CONSTRAINT reservations_idempotency_key_length CHECK (length(idempotency_key) BETWEEN 8 AND 128),
  CONSTRAINT reservations_request_hash_present CHECK (request_hash <> ''),
  CONSTRAINT reservations_status_check CHECK (status IN ('ACTIVE', 'CONFIRMED', 'EXPIRED', 'CANCELLED')),
  CONSTRAINT reservations_total_nonnegative CHECK (total_cents >= 0),
  CONSTRAINT reservations_currency_format CHECK (currency ~ '^[A-Z]{3}$'),
  -- exactly the timestamp of the terminal state reached is set
  CONSTRAINT reservations_status_timestamps CHECK (
    CASE status
      WHEN 'ACTIVE'    THEN confirmed_at IS NULL AND cancelled_at IS NULL AND expired_at IS NULL
      WHEN 'CONFIRMED' THEN confirmed_at IS NOT NULL AND cancelled_at IS NULL AND expired_at IS NULL
      WHEN 'CANCELLED' THEN cancelled_at IS NOT NULL AND confirmed_at IS NULL AND expired_at IS NULL
      WHEN 'EXPIRED'   THEN expired_at IS NOT NULL AND confirmed_at IS NULL AND cancelled_at IS NULL
    END),
  -- target of composite FKs (seats, items, payments, orders)
  CONSTRAINT reservations_id_event_org_key UNIQUE (id, event_id, org_id)
);
-- expiry worker: ... WHERE status = 'ACTIVE' AND expires_at <= now()
--                ORDER BY expires_at LIMIT $n FOR UPDATE SKIP LOCKED
CREATE INDEX reservations_active_expires_at_idx ON reservations (expires_at) WHERE status = 'ACTIVE';
-- per-user-per-event limit on active holds
CREATE INDEX reservations_active_event_user_idx ON reservations (event_id, user_id) WHERE status = 'ACTIVE';
-- staff listing of an event's reservations; also the index of the event FK
CREATE INDEX reservations_event_id_created_at_idx ON reservations (event_id, created_at);
-- (user_id, idempotency_key) indexes the user FK and GET /me/reservations.

CREATE TRIGGER reservations_status_transition
  BEFORE UPDATE OF status ON reservations
  FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
  EXECUTE FUNCTION enforce_status_transition(
    'ACTIVE>CONFIRMED', 'ACTIVE>EXPIRED', 'ACTIVE>CANCELLED');

-- ---------------------------------------------------------------------------------------
-- event_seats: per-event seat inventory, created from the venue layout (seat sync is
-- INSERT ... SELECT ... ON CONFLICT (venue_seat_id, event_id) DO NOTHING).
--
-- Invariant 1 (held by at most one reservation): a seat row has a single reservation_id,
-- so a seat is held by at most one reservation by construction. A hold is taken with a
-- conditional update
--   UPDATE event_seats SET status = 'RESERVED', reservation_id = $r, reserved_until = $exp,
--          version = version + 1, updated_at = now()
--    WHERE event_id = $e AND id = ANY($seats)
--      AND (status = 'AVAILABLE' OR (status = 'RESERVED' AND reserved_until <= now()))
-- (a lapsed hold is reservable before the expiry worker runs: it is simply overwritten).
--
-- Seat states (CHECK event_seats_status_shape):
--   AVAILABLE, BLOCKED : reservation_id NULL,     reserved_until NULL
--   RESERVED           : reservation_id NOT NULL, reserved_until NOT NULL (the hold)
--   SOLD               : reservation_id NOT NULL (the CONFIRMED reservation that bought
--                        it), reserved_until NULL
-- Refunds return the seat to AVAILABLE (reservation_id and reserved_until cleared).
--
-- Performance: this table is the reservation hot path. Only columns that never change
-- after creation (or change rarely, ticket_type_id) are indexed, so reserve/release/sell
-- updates are HOT (no index maintenance); fillfactor leaves room for the new versions.
-- In particular reservation_id is NOT indexed: the seats of a reservation are reached
-- through reservation_items (indexed by reservation_id) and the seat primary key:
--   UPDATE event_seats s SET ... FROM reservation_items i
--    WHERE i.reservation_id = $r AND s.id = i.event_seat_id AND s.reservation_id = $r
-- (the last condition matters: a lapsed hold may already have been taken by someone else).
-- Consequence: deleting reservations (test cleanup only) must first delete the event's
-- seats (or the event), otherwise each deleted reservation scans the event's seats for the
-- FK check.
-- ---------------------------------------------------------------------------------------
CREATE TABLE event_seats (
  id             uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
  event_id       uuid        NOT NULL,
  org_id         uuid        NOT NULL,
  venue_id       uuid        NOT NULL,
  venue_seat_id  uuid        NOT NULL,
  section_id     uuid        NOT NULL,
  row_id         uuid        NOT NULL,
  -- copies from the layout for single-table, naturally ordered seat-map reads
  seat_code      text        NOT NULL,
  seat_number    int         NOT NULL,
  section_sort   int         NOT NULL,
  row_sort       int         NOT NULL,
  -- pricing: the seat's ticket type, optionally overridden per seat
  ticket_type_id uuid,
  price_cents    bigint,
  fees_cents     bigint,
  status         text        NOT NULL DEFAULT 'AVAILABLE',
  reservation_id uuid,
  reserved_until timestamptz,
  -- incremented on every change of this seat
  version        bigint      NOT NULL DEFAULT 0,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  -- The event's organization and venue; an event's venue cannot change once it has seats.
  CONSTRAINT event_seats_event_fkey FOREIGN KEY (event_id, venue_id, org_id)
    REFERENCES events (id, venue_id, org_id) ON DELETE CASCADE,
  -- The venue seat is in the event's venue, and section_id/row_id are really its own.
  CONSTRAINT event_seats_venue_seat_fkey FOREIGN KEY (venue_seat_id, venue_id, section_id, row_id)
    REFERENCES venue_seats (id, venue_id, section_id, row_id),
  -- The ticket type belongs to the same event (deleting it un-types the seat).
  CONSTRAINT event_seats_ticket_type_fkey FOREIGN KEY (ticket_type_id, event_id, org_id)
    REFERENCES event_ticket_types (id, event_id, org_id) ON DELETE SET NULL (ticket_type_id),
  -- The holding/buying reservation is for the same event.
  CONSTRAINT event_seats_reservation_fkey FOREIGN KEY (reservation_id, event_id, org_id)
    REFERENCES reservations (id, event_id, org_id),
  -- one inventory row per venue seat and event; leading venue_seat_id so it also serves
  -- the venue-seat FK
  CONSTRAINT event_seats_venue_seat_event_key UNIQUE (venue_seat_id, event_id),
  -- target of composite FKs (items, order items, tickets)
  CONSTRAINT event_seats_id_event_key UNIQUE (id, event_id),
  CONSTRAINT event_seats_status_check CHECK (status IN ('AVAILABLE', 'RESERVED', 'SOLD', 'BLOCKED')),
  CONSTRAINT event_seats_status_shape CHECK (
    CASE status
      WHEN 'AVAILABLE' THEN reservation_id IS NULL AND reserved_until IS NULL
      WHEN 'BLOCKED'   THEN reservation_id IS NULL AND reserved_until IS NULL
      WHEN 'RESERVED'  THEN reservation_id IS NOT NULL AND reserved_until IS NOT NULL
      WHEN 'SOLD'      THEN reservation_id IS NOT NULL AND reserved_until IS NULL
    END),
  CONSTRAINT event_seats_seat_number_positive CHECK (seat_number > 0),
  CONSTRAINT event_seats_price_nonnegative CHECK (price_cents IS NULL OR price_cents >= 0),
  CONSTRAINT event_seats_fees_nonnegative CHECK (fees_cents IS NULL OR fees_cents >= 0)
) WITH (fillfactor = 85);
-- Natural-order seat map (section, row, then seat 2 before 10; id makes the order total
-- for stable pagination). Also the index of the event FK. Status and section filters are
-- applied on this scan (at most one event's seats); to read one section as a range, filter
-- on its section_sort as well as its section_id.
CREATE INDEX event_seats_event_natural_order_idx
  ON event_seats (event_id, section_sort, row_sort, seat_number, id);
CREATE INDEX event_seats_ticket_type_id_idx ON event_seats (ticket_type_id) WHERE ticket_type_id IS NOT NULL;

-- ---------------------------------------------------------------------------------------
-- reservation_items: what a reservation holds, with the price snapshot.
-- A seat item holds one event seat; a GA item holds `quantity` units of one ticket type
-- taken from one capacity slot (a GA request spanning slots has one item per slot).
-- ---------------------------------------------------------------------------------------
CREATE TABLE reservation_items (
  id               uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
  reservation_id   uuid        NOT NULL,
  org_id           uuid        NOT NULL,
  event_id         uuid        NOT NULL,
  event_seat_id    uuid,
  -- for seat items: the seat's ticket type at reservation time (may be NULL)
  ticket_type_id   uuid,
  slot             smallint,
  quantity         int         NOT NULL DEFAULT 1,
  unit_price_cents bigint      NOT NULL,
  unit_fees_cents  bigint      NOT NULL DEFAULT 0,
  created_at       timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT reservation_items_reservation_fkey FOREIGN KEY (reservation_id, event_id, org_id)
    REFERENCES reservations (id, event_id, org_id) ON DELETE CASCADE,
  CONSTRAINT reservation_items_event_seat_fkey FOREIGN KEY (event_seat_id, event_id)
    REFERENCES event_seats (id, event_id),
  CONSTRAINT reservation_items_ticket_type_fkey FOREIGN KEY (ticket_type_id, event_id, org_id)
    REFERENCES event_ticket_types (id, event_id, org_id),
  -- the GA slot exists (not checked for seat items, whose slot is NULL)
  CONSTRAINT reservation_items_slot_fkey FOREIGN KEY (ticket_type_id, slot)
    REFERENCES event_ticket_type_slots (ticket_type_id, slot),
  -- exactly one kind: a seat (quantity 1, no slot) or GA units from one slot
  CONSTRAINT reservation_items_kind CHECK (
    (event_seat_id IS NOT NULL AND slot IS NULL AND quantity = 1)
    OR (event_seat_id IS NULL AND ticket_type_id IS NOT NULL AND slot IS NOT NULL)),
  CONSTRAINT reservation_items_quantity_positive CHECK (quantity > 0),
  CONSTRAINT reservation_items_price_nonnegative CHECK (unit_price_cents >= 0 AND unit_fees_cents >= 0),
  -- a seat appears once per reservation; leading reservation_id, so it is also the index
  -- for "items of a reservation" and the reservation FK
  CONSTRAINT reservation_items_reservation_seat_key UNIQUE (reservation_id, event_seat_id)
);
CREATE INDEX reservation_items_event_seat_id_idx ON reservation_items (event_seat_id) WHERE event_seat_id IS NOT NULL;
CREATE INDEX reservation_items_ticket_type_slot_idx ON reservation_items (ticket_type_id, slot) WHERE ticket_type_id IS NOT NULL;

-- ---------------------------------------------------------------------------------------
-- payments
-- States: PENDING -> SUCCEEDED | FAILED; SUCCEEDED -> REFUNDED. FAILED is final: a late
-- success for a FAILED attempt keeps status FAILED and sets needs_refund (money was taken
-- and must be returned); it is never turned into SUCCEEDED. A SUCCEEDED payment whose
-- reservation is no longer ACTIVE when the consumer runs also gets needs_refund (and
-- finalized_at); its refund later moves it to REFUNDED.
-- Remediation queue = needs_refund AND refunded_at IS NULL.
-- ---------------------------------------------------------------------------------------
CREATE TABLE payments (
  id             uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id         uuid        NOT NULL,
  event_id       uuid        NOT NULL,
  reservation_id uuid        NOT NULL,
  user_id        uuid        NOT NULL REFERENCES users (id),
  provider       text        NOT NULL,
  -- the provider's intent/charge id; NULL only while PENDING, before the provider answered
  provider_ref   text,
  status         text        NOT NULL DEFAULT 'PENDING',
  amount_cents   bigint      NOT NULL,
  currency       char(3)     NOT NULL,
  checkout_url   text,
  needs_refund   boolean     NOT NULL DEFAULT false,
  failure_reason text,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  succeeded_at   timestamptz,
  failed_at      timestamptz,
  refunded_at    timestamptz,
  -- set by the payment.succeeded consumer once it issued tickets or routed the payment to
  -- refund; a redelivered message sees it and does nothing
  finalized_at   timestamptz,
  CONSTRAINT payments_reservation_fkey FOREIGN KEY (reservation_id, event_id, org_id)
    REFERENCES reservations (id, event_id, org_id),
  -- (provider, providerRef) identifies one payment (invariant 3)
  CONSTRAINT payments_provider_ref_key UNIQUE (provider, provider_ref),
  -- FK target for orders (an order's payment is for the order's reservation); leading
  -- reservation_id, so it is also the index of the reservation FK
  CONSTRAINT payments_reservation_id_id_key UNIQUE (reservation_id, id),
  CONSTRAINT payments_provider_format CHECK (provider ~ '^[a-z][a-z0-9_]{1,31}$'),
  CONSTRAINT payments_provider_ref_present CHECK (provider_ref IS NOT NULL OR status = 'PENDING'),
  CONSTRAINT payments_status_check CHECK (status IN ('PENDING', 'SUCCEEDED', 'FAILED', 'REFUNDED')),
  CONSTRAINT payments_amount_nonnegative CHECK (amount_cents >= 0),
  CONSTRAINT payments_currency_format CHECK (currency ~ '^[A-Z]{3}$'),
  CONSTRAINT payments_status_timestamps CHECK (
    CASE status
      WHEN 'PENDING'   THEN succeeded_at IS NULL AND failed_at IS NULL AND refunded_at IS NULL
                            AND finalized_at IS NULL AND NOT needs_refund
      WHEN 'SUCCEEDED' THEN succeeded_at IS NOT NULL AND failed_at IS NULL AND refunded_at IS NULL
      WHEN 'REFUNDED'  THEN succeeded_at IS NOT NULL AND failed_at IS NULL AND refunded_at IS NOT NULL
      -- a FAILED payment never has succeeded_at; refunded_at only for a remediated late
      -- success; it is never finalized (no tickets)
      WHEN 'FAILED'    THEN failed_at IS NOT NULL AND succeeded_at IS NULL AND finalized_at IS NULL
                            AND (refunded_at IS NULL OR needs_refund)
    END)
);
-- Invariant 3: a reservation has at most one non-failed payment. POST /payments inserts
-- with ON CONFLICT DO NOTHING and returns the existing one; after a FAILED attempt the
-- customer can pay again.
CREATE UNIQUE INDEX payments_one_open_per_reservation
  ON payments (reservation_id) WHERE status <> 'FAILED';
CREATE INDEX payments_user_id_idx ON payments (user_id, created_at);
-- staff remediation view: money taken that must be returned
CREATE INDEX payments_needs_refund_idx ON payments (org_id, created_at)
  WHERE needs_refund AND refunded_at IS NULL;

CREATE TRIGGER payments_status_transition
  BEFORE UPDATE OF status ON payments
  FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
  EXECUTE FUNCTION enforce_status_transition(
    'PENDING>SUCCEEDED', 'PENDING>FAILED', 'SUCCEEDED>REFUNDED');

-- ---------------------------------------------------------------------------------------
-- payment_webhook_events: every webhook request, including rejected ones (bad or missing
-- signature), which may lack a trustworthy provider/event id.
-- ---------------------------------------------------------------------------------------
CREATE TABLE payment_webhook_events (
  id                uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
  provider          text,
  provider_event_id text,
  payment_id        uuid        REFERENCES payments (id) ON DELETE SET NULL,
  signature_valid   boolean     NOT NULL,
  status            text        NOT NULL DEFAULT 'RECEIVED',
  -- as received (must be valid UTF-8 without NUL: the app stores an escaped form of
  -- anything else)
  raw_body          text        NOT NULL,
  headers           jsonb,
  error             text,
  received_at       timestamptz NOT NULL DEFAULT now(),
  processed_at      timestamptz,
  CONSTRAINT payment_webhook_events_status_check CHECK (
    status IN ('RECEIVED', 'PROCESSED', 'REJECTED', 'IGNORED')),
  -- an unauthenticated request is recorded, never acted upon
  CONSTRAINT payment_webhook_events_unsigned_rejected CHECK (signature_valid OR status = 'REJECTED'),
  -- RECEIVED = not handled yet; PROCESSED/IGNORED record when they were handled
  CONSTRAINT payment_webhook_events_processed_at CHECK (
    CASE status
      WHEN 'RECEIVED'  THEN processed_at IS NULL
      WHEN 'PROCESSED' THEN processed_at IS NOT NULL
      WHEN 'IGNORED'   THEN processed_at IS NOT NULL
      ELSE true
    END)
);
-- (provider, providerEventId) identifies one webhook event (invariant 3), counting only
-- authenticated requests: forged or garbled attempts must not be able to occupy an event
-- id. The handler inserts with ON CONFLICT (provider, provider_event_id)
-- WHERE signature_valid DO NOTHING and answers {duplicate: true} when nothing was inserted.
CREATE UNIQUE INDEX payment_webhook_events_provider_event_key
  ON payment_webhook_events (provider, provider_event_id) WHERE signature_valid;
CREATE INDEX payment_webhook_events_payment_id_idx
  ON payment_webhook_events (payment_id) WHERE payment_id IS NOT NULL;

-- ---------------------------------------------------------------------------------------
-- orders, order_items
-- ---------------------------------------------------------------------------------------
CREATE TABLE orders (
  id             uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id         uuid        NOT NULL,
  event_id       uuid        NOT NULL,
  user_id        uuid        NOT NULL REFERENCES users (id),
  reservation_id uuid        NOT NULL,
  payment_id     uuid        NOT NULL,
  status         text        NOT NULL DEFAULT 'PAID',
  total_cents    bigint      NOT NULL,
  currency       char(3)     NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  refunded_at    timestamptz,
  CONSTRAINT orders_reservation_fkey FOREIGN KEY (reservation_id, event_id, org_id)
    REFERENCES reservations (id, event_id, org_id),
  -- the order's payment is a payment of the order's reservation
  CONSTRAINT orders_payment_fkey FOREIGN KEY (payment_id, reservation_id)
    REFERENCES payments (id, reservation_id),
  -- one order per reservation, and a payment yields at most one order (invariant 3)
  CONSTRAINT orders_reservation_id_key UNIQUE (reservation_id),
  CONSTRAINT orders_payment_id_key UNIQUE (payment_id),
  CONSTRAINT orders_status_check CHECK (status IN ('PAID', 'REFUNDED')),
  CONSTRAINT orders_total_nonnegative CHECK (total_cents >= 0),
  CONSTRAINT orders_currency_format CHECK (currency ~ '^[A-Z]{3}$'),
  CONSTRAINT orders_status_timestamps CHECK ((status = 'REFUNDED') = (refunded_at IS NOT NULL)),
  CONSTRAINT orders_id_event_org_key UNIQUE (id, event_id, org_id)
);
CREATE INDEX orders_user_id_created_at_idx ON orders (user_id, created_at);
CREATE INDEX orders_event_id_created_at_idx ON orders (event_id, created_at);

CREATE TRIGGER orders_status_transition
  BEFORE UPDATE OF status ON orders
  FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
  EXECUTE FUNCTION enforce_status_transition('PAID>REFUNDED');

CREATE TABLE order_items (
  id               uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
  order_id         uuid        NOT NULL,
  org_id           uuid        NOT NULL,
  event_id         uuid        NOT NULL,
  event_seat_id    uuid,
  ticket_type_id   uuid,
  quantity         int         NOT NULL DEFAULT 1,
  unit_price_cents bigint      NOT NULL,
  unit_fees_cents  bigint      NOT NULL DEFAULT 0,
  created_at       timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT order_items_order_fkey FOREIGN KEY (order_id, event_id, org_id)
    REFERENCES orders (id, event_id, org_id) ON DELETE CASCADE,
  CONSTRAINT order_items_event_seat_fkey FOREIGN KEY (event_seat_id, event_id)
    REFERENCES event_seats (id, event_id),
  CONSTRAINT order_items_ticket_type_fkey FOREIGN KEY (ticket_type_id, event_id, org_id)
    REFERENCES event_ticket_types (id, event_id, org_id),
  -- a seat line (quantity 1) or a GA line (ticket type, any quantity)
  CONSTRAINT order_items_kind CHECK (
    (event_seat_id IS NOT NULL AND quantity = 1)
    OR (event_seat_id IS NULL AND ticket_type_id IS NOT NULL)),
  CONSTRAINT order_items_quantity_positive CHECK (quantity > 0),
  CONSTRAINT order_items_price_nonnegative CHECK (unit_price_cents >= 0 AND unit_fees_cents >= 0),
  -- a seat appears once per order; also the order FK index
  CONSTRAINT order_items_order_seat_key UNIQUE (order_id, event_seat_id),
  -- target of the tickets' FK (a ticket's item belongs to the ticket's order)
  CONSTRAINT order_items_id_order_key UNIQUE (id, order_id)
);
CREATE INDEX order_items_event_seat_id_idx ON order_items (event_seat_id) WHERE event_seat_id IS NOT NULL;
CREATE INDEX order_items_ticket_type_id_idx ON order_items (ticket_type_id) WHERE ticket_type_id IS NOT NULL;

-- ---------------------------------------------------------------------------------------
-- tickets: one per seat, or `quantity` per GA order item.
-- ---------------------------------------------------------------------------------------
CREATE TABLE tickets (
  id             uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id         uuid        NOT NULL,
  event_id       uuid        NOT NULL,
  order_id       uuid        NOT NULL,
  order_item_id  uuid        NOT NULL,
  user_id        uuid        NOT NULL REFERENCES users (id),
  event_seat_id  uuid,
  ticket_type_id uuid,
  -- generated by the application from a CSPRNG (and/or signed); never derived from ids
  -- or sequences. The length floor rules out short guessable codes.
  code           text        NOT NULL,
  status         text        NOT NULL DEFAULT 'ISSUED',
  issued_at      timestamptz NOT NULL DEFAULT now(),
  checked_in_at  timestamptz,
  voided_at      timestamptz,
  refunded_at    timestamptz,
  updated_at     timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT tickets_order_fkey FOREIGN KEY (order_id, event_id, org_id)
    REFERENCES orders (id, event_id, org_id),
  CONSTRAINT tickets_order_item_fkey FOREIGN KEY (order_item_id, order_id)
    REFERENCES order_items (id, order_id),
  CONSTRAINT tickets_event_seat_fkey FOREIGN KEY (event_seat_id, event_id)
    REFERENCES event_seats (id, event_id),
  CONSTRAINT tickets_ticket_type_fkey FOREIGN KEY (ticket_type_id, event_id, org_id)
    REFERENCES event_ticket_types (id, event_id, org_id),
  CONSTRAINT tickets_code_key UNIQUE (code),
  CONSTRAINT tickets_code_length CHECK (length(code) BETWEEN 16 AND 512),
  CONSTRAINT tickets_seat_or_type CHECK (event_seat_id IS NOT NULL OR ticket_type_id IS NOT NULL),
  CONSTRAINT tickets_status_check CHECK (status IN ('ISSUED', 'VOIDED', 'REFUNDED')),
  CONSTRAINT tickets_status_timestamps CHECK (
    CASE status
      WHEN 'ISSUED'   THEN voided_at IS NULL AND refunded_at IS NULL
      WHEN 'VOIDED'   THEN voided_at IS NOT NULL AND refunded_at IS NULL
      WHEN 'REFUNDED' THEN refunded_at IS NOT NULL AND voided_at IS NULL
    END)
);
-- Invariant 1b: a seat is sold at most once while its ticket is ISSUED.
CREATE UNIQUE INDEX tickets_one_issued_per_seat ON tickets (event_seat_id) WHERE status = 'ISSUED';
-- order FK (leading order_id) and order-item FK (order_item_id, order_id) in one index
CREATE INDEX tickets_order_id_idx ON tickets (order_id, order_item_id);
CREATE INDEX tickets_user_id_issued_at_idx ON tickets (user_id, issued_at);
-- staff listing; also serves the event-seat FK check (bounded by the event's tickets)
CREATE INDEX tickets_event_id_issued_at_idx ON tickets (event_id, issued_at);
CREATE INDEX tickets_ticket_type_id_idx ON tickets (ticket_type_id) WHERE ticket_type_id IS NOT NULL;

CREATE TRIGGER tickets_status_transition
  BEFORE UPDATE OF status ON tickets
  FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
  EXECUTE FUNCTION enforce_status_transition('ISSUED>VOIDED', 'ISSUED>REFUNDED');

-- Check-in is a one-time timestamp on an ISSUED ticket: the first scan wins and is never
-- overwritten or cleared. The check-in endpoint uses
--   UPDATE tickets SET checked_in_at = now() WHERE code = $1 AND event_id = $2
--      AND status = 'ISSUED' AND checked_in_at IS NULL RETURNING ...
-- and reads the first scan's time when no row was updated; this trigger is the backstop.
CREATE FUNCTION tickets_check_in_once() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.checked_in_at IS NOT NULL OR OLD.status <> 'ISSUED' OR NEW.status <> 'ISSUED' THEN
    RAISE EXCEPTION 'ticket % cannot be checked in (status %, checked in at %)',
        OLD.id, OLD.status, OLD.checked_in_at
      USING ERRCODE = 'object_not_in_prerequisite_state',
            CONSTRAINT = 'tickets_check_in_once',
            TABLE = 'tickets',
            SCHEMA = TG_TABLE_SCHEMA;
  END IF;
  RETURN NEW;
END
$$;

CREATE TRIGGER tickets_check_in_once
  BEFORE UPDATE OF checked_in_at ON tickets
  FOR EACH ROW WHEN (OLD.checked_in_at IS DISTINCT FROM NEW.checked_in_at)
  EXECUTE FUNCTION tickets_check_in_once();

-- ---------------------------------------------------------------------------------------
-- idempotency_keys: generic idempotency store for endpoints other than reservations
-- (which keep (user_id, idempotency_key) on the reservation row itself).
-- Flow: INSERT ... ON CONFLICT DO NOTHING claims the key (response_status NULL = in
-- progress); the handler's transaction fills in the response; a replay with the same
-- request_hash returns the stored response, a different hash answers 422.
-- ---------------------------------------------------------------------------------------
CREATE TABLE idempotency_keys (
  -- endpoint family, e.g. 'payments.create'
  scope           text        NOT NULL,
  -- the authenticated principal: a user id or an API key id
  principal_id    uuid        NOT NULL,
  key             text        NOT NULL,
  request_hash    text        NOT NULL,
  resource_type   text,
  resource_id     uuid,
  response_status int,
  response_body   jsonb,
  created_at      timestamptz NOT NULL DEFAULT now(),
  expires_at      timestamptz NOT NULL,
  CONSTRAINT idempotency_keys_pkey PRIMARY KEY (scope, principal_id, key),
  CONSTRAINT idempotency_keys_scope_length CHECK (length(scope) BETWEEN 1 AND 64),
  CONSTRAINT idempotency_keys_key_length CHECK (length(key) BETWEEN 8 AND 128),
  CONSTRAINT idempotency_keys_request_hash_present CHECK (request_hash <> ''),
  CONSTRAINT idempotency_keys_response_status_range CHECK (
    response_status IS NULL OR response_status BETWEEN 100 AND 599)
);
-- purge of expired keys
CREATE INDEX idempotency_keys_expires_at_idx ON idempotency_keys (expires_at);
