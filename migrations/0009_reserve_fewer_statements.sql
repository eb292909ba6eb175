-- 0009: reserve() with about half the statements (bench/reserve: each statement of the function
-- costs 0.1-0.4 ms of database time on the 2-core reference machine, so their number is the
-- throughput). Same contract and outcomes as 0008:
--   - lock timeout and advisory lock in one statement;
--   - the idempotency key, the event and the user's live holds read in one statement;
--   - the requested seats locked (in id order), judged and priced in one statement, so the total
--     is known before the reservation row is written (no UPDATE of it afterwards);
--   - seats claimed, items written and their JSON built in one statement;
--   - the reservation JSON is assembled from what the function already has instead of being
--     read back with reservation_json().
-- Also: releases (expiry, cancel) lock GA slots in one global order (see the end of the file).
CREATE OR REPLACE FUNCTION reserve(p_user uuid, p_event uuid, p_key text, p_hash text, p_seats uuid[],
                                   p_ga_types uuid[], p_ga_quantities int[], p_ttl_seconds int,
                                   p_max_active int, p_lock_timeout_ms int, p_correlation_id text,
                                   OUT o_outcome text, OUT o_reservation jsonb, OUT o_seats jsonb,
                                   OUT o_detail jsonb)
LANGUAGE plpgsql AS $$
DECLARE
  v_ctx        record;
  v_id         uuid := gen_random_uuid();
  v_expires    timestamptz := now() + make_interval(secs => p_ttl_seconds);
  v_missing    jsonb;
  v_ok         int;
  v_total      bigint := 0;
  v_ga_total   bigint;
  v_seat_items jsonb;
  v_ga_items   jsonb := '[]'::jsonb;
  v_item_id    uuid;
  v_type       record;
  v_slot       record;
  v_remaining  int;
  v_take       int;
  v_start      int;
  v_short      jsonb := '[]'::jsonb;
  v_existing   record;
BEGIN
  PERFORM set_config('lock_timeout', p_lock_timeout_ms || 'ms', true),
          pg_advisory_xact_lock(hashtextextended(p_user::text || '/' || p_event::text, 0));

  SELECT e.org_id, e.currency, e.status, e.published_at, e.starts_at, e.sales_start_at,
         e.sales_end_at, k.id AS existing_id, k.request_hash AS existing_hash,
         (SELECT count(*) FROM reservations a
           WHERE a.event_id = p_event AND a.user_id = p_user AND a.status = 'ACTIVE'
             AND a.expires_at > now()) AS active
    INTO v_ctx
    FROM (SELECT 1) one
    LEFT JOIN events e ON e.id = p_event
    LEFT JOIN reservations k ON k.user_id = p_user AND k.idempotency_key = p_key;

  IF v_ctx.existing_id IS NOT NULL THEN
    IF v_ctx.existing_hash <> p_hash THEN
      o_outcome := 'KEY_REUSED';
      RETURN;
    END IF;
    o_outcome := 'REPLAYED';
    o_reservation := reservation_json(v_ctx.existing_id);
    RETURN;
  END IF;
  -- Never published (a draft, or cancelled as a draft): invisible to customers.
  IF v_ctx.org_id IS NULL OR v_ctx.published_at IS NULL THEN
    o_outcome := 'EVENT_NOT_FOUND';
    RETURN;
  END IF;
  IF v_ctx.status <> 'PUBLISHED' THEN
    o_outcome := 'NOT_ON_SALE';
    o_detail := jsonb_build_object('reason', 'EVENT_CANCELLED');
    RETURN;
  ELSIF v_ctx.starts_at <= now() THEN
    o_outcome := 'NOT_ON_SALE';
    o_detail := jsonb_build_object('reason', 'EVENT_STARTED');
    RETURN;
  ELSIF v_ctx.sales_start_at IS NOT NULL AND now() < v_ctx.sales_start_at THEN
    o_outcome := 'NOT_ON_SALE';
    o_detail := jsonb_build_object('reason', 'SALES_NOT_STARTED',
                                   'salesStartAt', iso_utc(v_ctx.sales_start_at));
    RETURN;
  ELSIF v_ctx.sales_end_at IS NOT NULL AND now() >= v_ctx.sales_end_at THEN
    o_outcome := 'NOT_ON_SALE';
    o_detail := jsonb_build_object('reason', 'SALES_ENDED');
    RETURN;
  END IF;
  IF v_ctx.active >= p_max_active THEN
    o_outcome := 'ACTIVE_LIMIT';
    o_detail := jsonb_build_object('limit', p_max_active);
    RETURN;
  END IF;

  IF cardinality(p_ga_types) > 0 THEN
    SELECT coalesce(jsonb_agg(u.id), '[]'::jsonb) INTO v_missing
      FROM unnest(p_ga_types) AS u(id)
     WHERE NOT EXISTS (SELECT 1 FROM event_ticket_types t
                        WHERE t.id = u.id AND t.event_id = p_event AND t.kind = 'GA');
    IF jsonb_array_length(v_missing) > 0 THEN
      o_outcome := 'UNKNOWN_TICKET_TYPE';
      o_detail := jsonb_build_object('ticketTypeIds', v_missing);
      RETURN;
    END IF;
    -- A type without room for the request is refused before any write (the slots' CHECK stays
    -- the authority if the room goes between this check and the take).
    SELECT jsonb_agg(jsonb_build_object('ticketTypeId', want.id, 'requested', want.quantity,
                                        'available', room.free))
             FILTER (WHERE room.free < want.quantity),
           sum(want.quantity * (t.price_cents + t.fees_cents))
      INTO v_missing, v_ga_total
      FROM (SELECT u.id, sum(u.q)::int AS quantity
              FROM unnest(p_ga_types, p_ga_quantities) AS u(id, q) GROUP BY u.id) want
      JOIN event_ticket_types t ON t.id = want.id
      CROSS JOIN LATERAL (
        SELECT coalesce(sum(capacity - reserved - sold), 0)::int AS free
          FROM event_ticket_type_slots WHERE ticket_type_id = want.id) room;
    IF v_missing IS NOT NULL THEN
      o_outcome := 'SOLD_OUT';
      o_detail := jsonb_build_object('ticketTypes', v_missing);
      RETURN;
    END IF;
    v_total := v_total + coalesce(v_ga_total, 0);
  END IF;

  IF cardinality(p_seats) > 0 THEN
    -- Lock the requested seats in id order (multi-seat requests cannot deadlock), judge them on
    -- their committed state and price them: a refusal costs no write and no rollback.
    SELECT count(*) FILTER (WHERE x.ok),
           jsonb_agg(jsonb_build_object(
             'id', x.id, 'index', x.i - 1,
             'reason', CASE
               WHEN x.status IS NULL THEN 'NOT_FOUND'
               WHEN x.status = 'SOLD' THEN 'SOLD'
               WHEN x.status = 'BLOCKED' THEN 'BLOCKED'
               WHEN x.status = 'RESERVED' AND x.reserved_until > now() THEN 'HELD'
               ELSE 'NOT_FOR_SALE' END) ORDER BY x.i) FILTER (WHERE NOT x.ok),
           coalesce(sum(x.price + x.fees) FILTER (WHERE x.ok), 0)
      INTO v_ok, v_missing, v_ga_total
      FROM (
        SELECT u.id, u.i, s.status, s.reserved_until,
               coalesce(s.price_cents, t.price_cents) AS price,
               coalesce(s.fees_cents, t.fees_cents, 0) AS fees,
               coalesce((s.status = 'AVAILABLE'
                         OR (s.status = 'RESERVED' AND s.reserved_until <= now()))
                        AND coalesce(s.price_cents, t.price_cents) IS NOT NULL, false) AS ok
          FROM unnest(p_seats) WITH ORDINALITY AS u(id, i)
          LEFT JOIN (SELECT id, status, reserved_until, price_cents, fees_cents, ticket_type_id
                       FROM event_seats
                      WHERE event_id = p_event AND id = ANY(p_seats)
                      ORDER BY id
                      FOR UPDATE) s ON s.id = u.id
          LEFT JOIN event_ticket_types t ON t.id = s.ticket_type_id) x;
    IF v_missing IS NOT NULL THEN
      o_outcome := 'SEAT_UNAVAILABLE';
      o_detail := jsonb_build_object('seats', v_missing);
      RETURN;
    END IF;
    v_total := v_total + v_ga_total;
  END IF;

  INSERT INTO reservations (id, event_id, org_id, user_id, idempotency_key, request_hash,
                            expires_at, total_cents, currency)
  VALUES (v_id, p_event, v_ctx.org_id, p_user, p_key, p_hash, v_expires, v_total, v_ctx.currency)
  ON CONFLICT (user_id, idempotency_key) DO NOTHING;
  IF NOT FOUND THEN
    -- The same key was just used for another event (that request held another advisory lock).
    SELECT id, request_hash INTO v_existing FROM reservations
     WHERE user_id = p_user AND idempotency_key = p_key;
    IF v_existing.request_hash <> p_hash THEN
      o_outcome := 'KEY_REUSED';
      RETURN;
    END IF;
    o_outcome := 'REPLAYED';
    o_reservation := reservation_json(v_existing.id);
    RETURN;
  END IF;

  IF cardinality(p_seats) > 0 THEN
    WITH claimed AS (
      UPDATE event_seats s
         SET status = 'RESERVED', reservation_id = v_id, reserved_until = v_expires,
             version = s.version + 1, updated_at = now()
       WHERE s.event_id = p_event AND s.id = ANY(p_seats)
         AND (s.status = 'AVAILABLE' OR (s.status = 'RESERVED' AND s.reserved_until <= now()))
      RETURNING s.id, s.ticket_type_id, s.price_cents, s.fees_cents, s.seat_code, s.section_sort,
                s.row_sort, s.seat_number
    ), items AS (
      INSERT INTO reservation_items (reservation_id, org_id, event_id, event_seat_id,
                                     ticket_type_id, unit_price_cents, unit_fees_cents)
      SELECT v_id, v_ctx.org_id, p_event, c.id, c.ticket_type_id,
             coalesce(c.price_cents, t.price_cents), coalesce(c.fees_cents, t.fees_cents, 0)
        FROM claimed c LEFT JOIN event_ticket_types t ON t.id = c.ticket_type_id
      RETURNING id, event_seat_id, ticket_type_id, unit_price_cents, unit_fees_cents
    )
    SELECT count(*),
           jsonb_agg(jsonb_build_object(
             'id', i.id, 'kind', 'SEAT', 'eventSeatId', i.event_seat_id, 'seatCode', c.seat_code,
             'ticketTypeId', i.ticket_type_id, 'quantity', 1,
             'unitPriceCents', i.unit_price_cents, 'unitFeesCents', i.unit_fees_cents)
             ORDER BY c.section_sort, c.row_sort, c.seat_number),
           jsonb_agg(jsonb_build_object('id', c.id, 'status', 'RESERVED',
                                        'reservedUntil', iso_utc(v_expires)))
      INTO v_ok, v_seat_items, o_seats
      FROM items i JOIN claimed c ON c.id = i.event_seat_id;
    IF v_ok < cardinality(p_seats) THEN
      -- Not reachable while the seats stay locked since the check; kept as a safety net.
      RAISE EXCEPTION '%', jsonb_build_object('outcome', 'SEAT_UNAVAILABLE', 'seats', '[]'::jsonb)
        USING ERRCODE = 'TD409';
    END IF;
  END IF;

  FOR v_type IN
    SELECT u.id, sum(u.q)::int AS quantity, t.price_cents, t.fees_cents
      FROM unnest(p_ga_types, p_ga_quantities) AS u(id, q)
      JOIN event_ticket_types t ON t.id = u.id
     GROUP BY u.id, t.price_cents, t.fees_cents
     ORDER BY u.id
  LOOP
    v_remaining := v_type.quantity;
    v_start := floor(random() * 256)::int;
    -- Fast path: one slot nobody is updating right now with room for the whole quantity, from
    -- a random starting point; it locks at most that row and never waits.
    SELECT slot INTO v_slot
      FROM event_ticket_type_slots
     WHERE ticket_type_id = v_type.id AND capacity - reserved - sold >= v_remaining
     ORDER BY (slot - v_start + 256) % 256
     LIMIT 1
     FOR UPDATE SKIP LOCKED;
    IF FOUND THEN
      UPDATE event_ticket_type_slots SET reserved = reserved + v_remaining
       WHERE ticket_type_id = v_type.id AND slot = v_slot.slot;
      INSERT INTO reservation_items (reservation_id, org_id, event_id, ticket_type_id, slot,
                                     quantity, unit_price_cents, unit_fees_cents)
      VALUES (v_id, v_ctx.org_id, p_event, v_type.id, v_slot.slot, v_remaining,
              v_type.price_cents, v_type.fees_cents)
      RETURNING id INTO v_item_id;
      v_ga_items := v_ga_items || jsonb_build_object(
        'id', v_item_id, 'kind', 'GA', 'eventSeatId', NULL, 'seatCode', NULL,
        'ticketTypeId', v_type.id, 'quantity', v_remaining,
        'unitPriceCents', v_type.price_cents, 'unitFeesCents', v_type.fees_cents);
      v_remaining := 0;
    END IF;
    -- Otherwise take units slot by slot in slot order, waiting (bounded) for slots others hold.
    -- Deadlock-free: a transaction reaching this loop holds no slot of this type, waiters lock
    -- in one order, fast-path holders never wait here, and types go in id order.
    WHILE v_remaining > 0 LOOP
      SELECT slot, capacity - reserved - sold AS free INTO v_slot
        FROM event_ticket_type_slots
       WHERE ticket_type_id = v_type.id AND reserved + sold < capacity
       ORDER BY slot
       LIMIT 1
       FOR UPDATE;
      EXIT WHEN NOT FOUND;
      v_take := least(v_remaining, v_slot.free);
      UPDATE event_ticket_type_slots SET reserved = reserved + v_take
       WHERE ticket_type_id = v_type.id AND slot = v_slot.slot;
      INSERT INTO reservation_items (reservation_id, org_id, event_id, ticket_type_id, slot,
                                     quantity, unit_price_cents, unit_fees_cents)
      VALUES (v_id, v_ctx.org_id, p_event, v_type.id, v_slot.slot, v_take,
              v_type.price_cents, v_type.fees_cents)
      RETURNING id INTO v_item_id;
      v_ga_items := v_ga_items || jsonb_build_object(
        'id', v_item_id, 'kind', 'GA', 'eventSeatId', NULL, 'seatCode', NULL,
        'ticketTypeId', v_type.id, 'quantity', v_take,
        'unitPriceCents', v_type.price_cents, 'unitFeesCents', v_type.fees_cents);
      v_remaining := v_remaining - v_take;
    END LOOP;
    IF v_remaining > 0 THEN
      v_short := v_short || jsonb_build_object('ticketTypeId', v_type.id,
                                               'requested', v_type.quantity,
                                               'available', v_type.quantity - v_remaining);
    END IF;
  END LOOP;
  IF jsonb_array_length(v_short) > 0 THEN
    RAISE EXCEPTION '%', jsonb_build_object('outcome', 'SOLD_OUT', 'ticketTypes', v_short)
      USING ERRCODE = 'TD409';
  END IF;

  -- The shape of reservation_json(), from what is known (created_at is now(), the transaction
  -- start, like the column default).
  o_reservation := jsonb_build_object(
    'id', v_id, 'eventId', p_event, 'orgId', v_ctx.org_id, 'userId', p_user,
    'status', 'ACTIVE', 'expiresAt', iso_utc(v_expires), 'totalCents', v_total,
    'currency', v_ctx.currency, 'idempotencyKey', p_key, 'createdAt', iso_utc(now()),
    'confirmedAt', NULL, 'cancelledAt', NULL, 'expiredAt', NULL,
    'items', coalesce(v_seat_items, '[]'::jsonb) || v_ga_items);
  o_seats := coalesce(o_seats, '[]'::jsonb);
  PERFORM outbox_append('reservation.created', 'reservation', v_id, NULL,
                        jsonb_build_object('reservation', o_reservation), p_correlation_id,
                        jsonb_build_object('userId', p_user, 'apiKeyId', NULL));
  o_outcome := 'CREATED';
END
$$;

ALTER FUNCTION reserve(uuid, uuid, text, text, uuid[], uuid[], int[], int, int, int, text)
  SET plan_cache_mode = force_generic_plan;

-- Releases lock the GA slots they decrement in one global order (ticket type, slot) before
-- touching them. Two expiry workers (or a worker and a cancel) releasing units of the same slots
-- then queue instead of deadlocking (seen with two workers expiring thousands of GA holds).
CREATE OR REPLACE FUNCTION release_reservation_holds(p_id uuid) RETURNS uuid[]
LANGUAGE plpgsql AS $$
DECLARE
  v_seats  uuid[];
  v_locked int;
BEGIN
  WITH freed AS (
    UPDATE event_seats s
       SET status = 'AVAILABLE', reservation_id = NULL, reserved_until = NULL,
           version = s.version + 1, updated_at = now()
      FROM reservation_items i
     WHERE i.reservation_id = p_id AND s.id = i.event_seat_id
       AND s.reservation_id = p_id AND s.status = 'RESERVED'
    RETURNING s.id
  )
  SELECT array_agg(id) INTO v_seats FROM freed;

  SELECT count(*) INTO v_locked FROM (
    SELECT 1 FROM event_ticket_type_slots sl
     WHERE (sl.ticket_type_id, sl.slot) IN (SELECT ticket_type_id, slot FROM reservation_items
                                             WHERE reservation_id = p_id AND slot IS NOT NULL)
     ORDER BY sl.ticket_type_id, sl.slot
     FOR UPDATE) ordered;
  UPDATE event_ticket_type_slots sl
     SET reserved = sl.reserved - g.quantity
    FROM (SELECT ticket_type_id, slot, sum(quantity)::int AS quantity
            FROM reservation_items
           WHERE reservation_id = p_id AND slot IS NOT NULL
           GROUP BY ticket_type_id, slot) g
   WHERE sl.ticket_type_id = g.ticket_type_id AND sl.slot = g.slot;
  RETURN coalesce(v_seats, '{}'::uuid[]);
END
$$;

CREATE OR REPLACE FUNCTION expire_reservations(p_batch int, p_correlation_id text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  r        record;
  v_ids    uuid[];
  v_locked int;
  v_seats  uuid[];
  v_out    jsonb := '[]'::jsonb;
BEGIN
  SELECT array_agg(id ORDER BY expires_at) INTO v_ids FROM (
    SELECT id, expires_at FROM reservations
     WHERE status = 'ACTIVE' AND expires_at <= now()
     ORDER BY expires_at
     LIMIT p_batch
     FOR UPDATE SKIP LOCKED) due;
  IF v_ids IS NULL THEN
    RETURN v_out;
  END IF;
  -- The whole batch's GA slots, in the global order, before any of them is decremented.
  SELECT count(*) INTO v_locked FROM (
    SELECT 1 FROM event_ticket_type_slots sl
     WHERE (sl.ticket_type_id, sl.slot) IN (SELECT ticket_type_id, slot FROM reservation_items
                                             WHERE reservation_id = ANY(v_ids) AND slot IS NOT NULL)
     ORDER BY sl.ticket_type_id, sl.slot
     FOR UPDATE) ordered;
  FOR r IN SELECT id, event_id FROM reservations WHERE id = ANY(v_ids) ORDER BY expires_at LOOP
    v_seats := release_reservation_holds(r.id);
    UPDATE reservations SET status = 'EXPIRED', expired_at = now(), updated_at = now()
     WHERE id = r.id;
    PERFORM outbox_append('reservation.expired', 'reservation', r.id, NULL,
                          jsonb_build_object('reservation', reservation_json(r.id),
                                             'releasedSeatIds', to_jsonb(v_seats)),
                          p_correlation_id, jsonb_build_object('system', 'reservation_expiry'));
    v_out := v_out || jsonb_build_object('reservationId', r.id, 'eventId', r.event_id,
                                         'seats', to_jsonb(v_seats));
  END LOOP;
  RETURN v_out;
END
$$;
