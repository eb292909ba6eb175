-- 0007: server-side functions of the reservation hot path (one round trip per request) and the
-- shared outbox writer.

-- ---------------------------------------------------------------------------------------
-- Wire format of timestamps (ISO-8601 UTC with milliseconds), as TICKETD_SQL_ISO8601 in C++.
-- ---------------------------------------------------------------------------------------
CREATE FUNCTION iso_utc(t timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

-- ---------------------------------------------------------------------------------------
-- outbox_append: one outbox row in the standard event envelope of SPEC §10
-- {eventId, type, occurredAt, version, correlationId, actor, data}, occurredAt from the
-- database clock. The only writer of outbox rows (C++ infra/outbox calls it too), so the
-- envelope has one definition.
-- ---------------------------------------------------------------------------------------
CREATE FUNCTION outbox_append(p_topic text, p_aggregate_type text, p_aggregate_id uuid,
                              p_key text, p_data jsonb, p_correlation_id text, p_actor jsonb)
RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
  v_id uuid := gen_random_uuid();
BEGIN
  INSERT INTO outbox_events (id, aggregate_type, aggregate_id, topic, event_type, message_key,
                             payload, correlation_id)
  VALUES (v_id, p_aggregate_type, p_aggregate_id, p_topic, p_topic,
          coalesce(p_key, p_aggregate_id::text),
          jsonb_build_object('eventId', v_id, 'type', p_topic, 'occurredAt', iso_utc(now()),
                             'version', 1, 'correlationId', p_correlation_id,
                             'actor', coalesce(p_actor, '{}'::jsonb), 'data', p_data),
          p_correlation_id);
  RETURN v_id;
END
$$;

-- ---------------------------------------------------------------------------------------
-- reservation_json: the API shape of a reservation (GET /reservations/:id, replays, events).
-- ---------------------------------------------------------------------------------------
CREATE FUNCTION reservation_json(p_id uuid) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'id', r.id, 'eventId', r.event_id, 'orgId', r.org_id, 'userId', r.user_id,
    'status', r.status, 'expiresAt', iso_utc(r.expires_at), 'totalCents', r.total_cents,
    'currency', r.currency, 'idempotencyKey', r.idempotency_key,
    'createdAt', iso_utc(r.created_at), 'confirmedAt', iso_utc(r.confirmed_at),
    'cancelledAt', iso_utc(r.cancelled_at), 'expiredAt', iso_utc(r.expired_at),
    'items', coalesce((
      SELECT jsonb_agg(jsonb_build_object(
               'id', i.id,
               'kind', CASE WHEN i.event_seat_id IS NULL THEN 'GA' ELSE 'SEAT' END,
               'eventSeatId', i.event_seat_id, 'seatCode', s.seat_code,
               'ticketTypeId', i.ticket_type_id, 'quantity', i.quantity,
               'unitPriceCents', i.unit_price_cents, 'unitFeesCents', i.unit_fees_cents)
             ORDER BY s.section_sort, s.row_sort, s.seat_number, i.ticket_type_id, i.slot)
      FROM reservation_items i LEFT JOIN event_seats s ON s.id = i.event_seat_id
      WHERE i.reservation_id = r.id), '[]'::jsonb))
  FROM reservations r WHERE r.id = p_id
$$;

-- ---------------------------------------------------------------------------------------
-- reserve: the whole reservation in one call (SPEC §5).
--
-- Returns {"outcome": ...}:
--   CREATED      + reservation, seats [{id, status, reservedUntil}] (for realtime)
--   REPLAYED     + reservation     (same user, key and request hash)
--   KEY_REUSED                     (same user and key, different request)
--   EVENT_NOT_FOUND                (no such event, or not published)
--   NOT_ON_SALE  + reason          (cancelled, started, outside the sales window)
--   ACTIVE_LIMIT + limit           (p_max_active live holds of this user for this event)
--   UNKNOWN_TICKET_TYPE + ids      (not a general-admission type of this event)
-- and raises (rolling every write of the call back):
--   SQLSTATE TD409, message {"outcome":"SEAT_UNAVAILABLE","seats":[{id, reason}]}
--   SQLSTATE TD409, message {"outcome":"SOLD_OUT","ticketTypes":[{ticketTypeId, requested, available}]}
--   SQLSTATE 55P03 (lock_not_available) when a row stays locked past p_lock_timeout_ms.
--
-- Concurrency:
-- - Seats are claimed by one conditional UPDATE (AVAILABLE, or RESERVED with a lapsed hold).
--   Row locks make a second claimant re-check the condition on the committed row (READ
--   COMMITTED), so a seat is taken at most once. Two multi-seat requests that lock in
--   different orders may deadlock; PostgreSQL aborts one, which answers like a lock timeout.
-- - General admission takes units from the type's capacity slots: first one unlocked slot with
--   room for the whole quantity, starting at a random slot (concurrent buyers spread over the
--   slots and never wait); only when none has room does it take units slot by slot in slot
--   order, waiting for locked ones. Each slot's CHECK (reserved + sold <= capacity) is the
--   authority.
-- - One advisory lock per (user, event) serializes a user's own concurrent attempts: the same
--   idempotency key replays instead of racing, and the active-hold limit cannot be overrun.
-- - Every wait is bounded by p_lock_timeout_ms (transaction-local lock_timeout).
-- ---------------------------------------------------------------------------------------
CREATE FUNCTION reserve(p_user uuid, p_event uuid, p_key text, p_hash text, p_seats uuid[],
                        p_ga_types uuid[], p_ga_quantities int[], p_ttl_seconds int,
                        p_max_active int, p_lock_timeout_ms int, p_correlation_id text,
                        OUT o_outcome text, OUT o_reservation jsonb, OUT o_seats jsonb,
                        OUT o_detail jsonb)
LANGUAGE plpgsql AS $$
DECLARE
  v_existing   reservations%ROWTYPE;
  v_event      events%ROWTYPE;
  v_id         uuid;
  v_expires    timestamptz;
  v_claimed    uuid[];
  v_missing    jsonb;
  v_type       record;
  v_slot       record;
  v_remaining  int;
  v_take       int;
  v_start      int;
  v_short      jsonb := '[]'::jsonb;
  v_seats_out  jsonb;
  v_total      bigint;
  v_reservation jsonb;
BEGIN
  PERFORM set_config('lock_timeout', p_lock_timeout_ms || 'ms', true);
  PERFORM pg_advisory_xact_lock(hashtextextended(p_user::text || '/' || p_event::text, 0));

  SELECT * INTO v_existing FROM reservations WHERE user_id = p_user AND idempotency_key = p_key;
  IF FOUND THEN
    IF v_existing.request_hash <> p_hash THEN
      o_outcome := 'KEY_REUSED';
      RETURN;
    END IF;
    o_outcome := 'REPLAYED';
    o_reservation := reservation_json(v_existing.id);
    RETURN;
  END IF;

  SELECT * INTO v_event FROM events WHERE id = p_event;
  -- Never published (a draft, or cancelled as a draft): invisible to customers.
  IF NOT FOUND OR v_event.published_at IS NULL THEN
    o_outcome := 'EVENT_NOT_FOUND';
    RETURN;
  END IF;
  IF v_event.status <> 'PUBLISHED' THEN
    o_outcome := 'NOT_ON_SALE';
    o_detail := jsonb_build_object('reason', 'EVENT_CANCELLED');
    RETURN;
  ELSIF v_event.starts_at <= now() THEN
    o_outcome := 'NOT_ON_SALE';
    o_detail := jsonb_build_object('reason', 'EVENT_STARTED');
    RETURN;
  ELSIF v_event.sales_start_at IS NOT NULL AND now() < v_event.sales_start_at THEN
    o_outcome := 'NOT_ON_SALE';
    o_detail := jsonb_build_object('reason', 'SALES_NOT_STARTED',
                              'salesStartAt', iso_utc(v_event.sales_start_at));
    RETURN;
  ELSIF v_event.sales_end_at IS NOT NULL AND now() >= v_event.sales_end_at THEN
    o_outcome := 'NOT_ON_SALE';
    o_detail := jsonb_build_object('reason', 'SALES_ENDED');
    RETURN;
  END IF;

  IF (SELECT count(*) FROM reservations
       WHERE event_id = p_event AND user_id = p_user AND status = 'ACTIVE' AND expires_at > now())
     >= p_max_active THEN
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
  END IF;

  INSERT INTO reservations (event_id, org_id, user_id, idempotency_key, request_hash,
                            expires_at, currency)
  VALUES (p_event, v_event.org_id, p_user, p_key, p_hash,
          now() + make_interval(secs => p_ttl_seconds), v_event.currency)
  ON CONFLICT (user_id, idempotency_key) DO NOTHING
  RETURNING id, expires_at INTO v_id, v_expires;
  IF v_id IS NULL THEN
    -- The same key was just used for another event (that request held another advisory lock).
    SELECT * INTO v_existing FROM reservations WHERE user_id = p_user AND idempotency_key = p_key;
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
         AND (s.price_cents IS NOT NULL OR s.ticket_type_id IS NOT NULL)
      RETURNING s.id, s.ticket_type_id, s.price_cents, s.fees_cents
    ), items AS (
      INSERT INTO reservation_items (reservation_id, org_id, event_id, event_seat_id,
                                     ticket_type_id, unit_price_cents, unit_fees_cents)
      SELECT v_id, v_event.org_id, p_event, c.id, c.ticket_type_id,
             coalesce(c.price_cents, t.price_cents), coalesce(c.fees_cents, t.fees_cents, 0)
        FROM claimed c LEFT JOIN event_ticket_types t ON t.id = c.ticket_type_id
      RETURNING event_seat_id
    )
    SELECT array_agg(event_seat_id) INTO v_claimed FROM items;

    IF coalesce(cardinality(v_claimed), 0) < cardinality(p_seats) THEN
      SELECT jsonb_agg(jsonb_build_object(
               'id', u.id,
               'index', u.i - 1,
               'reason', CASE
                 WHEN s.id IS NULL THEN 'NOT_FOUND'
                 WHEN s.status = 'SOLD' THEN 'SOLD'
                 WHEN s.status = 'BLOCKED' THEN 'BLOCKED'
                 WHEN s.status = 'RESERVED' THEN 'HELD'
                 ELSE 'NOT_FOR_SALE' END) ORDER BY u.i)
        INTO v_missing
        FROM unnest(p_seats) WITH ORDINALITY AS u(id, i)
        LEFT JOIN event_seats s ON s.id = u.id AND s.event_id = p_event
       WHERE u.id <> ALL(coalesce(v_claimed, '{}'::uuid[]));
      RAISE EXCEPTION '%', jsonb_build_object('outcome', 'SEAT_UNAVAILABLE', 'seats', v_missing)
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
    -- Fast path: one slot nobody is updating right now that has room for the whole quantity,
    -- from a random starting point. It locks at most that one row and never waits.
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
      VALUES (v_id, v_event.org_id, p_event, v_type.id, v_slot.slot, v_remaining,
              v_type.price_cents, v_type.fees_cents);
      v_remaining := 0;
    END IF;
    -- Otherwise (near sell-out, or a quantity no single free slot holds) take units slot by
    -- slot in slot order, waiting (bounded) for slots others hold. Deadlock-free: a transaction
    -- reaching this loop holds no slot of this type, waiters lock in one order, and fast-path
    -- holders never wait here; types are processed in id order.
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
      VALUES (v_id, v_event.org_id, p_event, v_type.id, v_slot.slot, v_take,
              v_type.price_cents, v_type.fees_cents);
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

  SELECT coalesce(sum((unit_price_cents + unit_fees_cents) * quantity), 0) INTO v_total
    FROM reservation_items WHERE reservation_id = v_id;
  UPDATE reservations SET total_cents = v_total WHERE id = v_id;

  v_reservation := reservation_json(v_id);
  PERFORM outbox_append('reservation.created', 'reservation', v_id, NULL,
                        jsonb_build_object('reservation', v_reservation), p_correlation_id,
                        jsonb_build_object('userId', p_user, 'apiKeyId', NULL));
  SELECT coalesce(jsonb_agg(jsonb_build_object('id', x, 'status', 'RESERVED',
                                               'reservedUntil', iso_utc(v_expires))), '[]'::jsonb)
    INTO v_seats_out FROM unnest(v_claimed) AS x;
  o_outcome := 'CREATED';
  o_reservation := v_reservation;
  o_seats := v_seats_out;
END
$$;

-- ---------------------------------------------------------------------------------------
-- release_reservation_holds: frees what a reservation holds; returns the freed seat ids.
-- Only seats still held by this reservation are touched: a lapsed hold may already have been
-- taken over by another reservation.
-- ---------------------------------------------------------------------------------------
CREATE FUNCTION release_reservation_holds(p_id uuid) RETURNS uuid[]
LANGUAGE plpgsql AS $$
DECLARE
  v_seats uuid[];
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

-- ---------------------------------------------------------------------------------------
-- expire_reservations: one batch of the expiry worker. Claims due ACTIVE reservations with
-- SKIP LOCKED (several workers never take the same one and never wait on each other),
-- releases their holds, marks them EXPIRED and writes reservation.expired, all in the
-- caller's single statement: a crash leaves either nothing or the whole batch done.
-- Returns [{reservationId, eventId, seats: [freed seat ids]}] for realtime announcements.
-- ---------------------------------------------------------------------------------------
CREATE FUNCTION expire_reservations(p_batch int, p_correlation_id text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  r       record;
  v_seats uuid[];
  v_out   jsonb := '[]'::jsonb;
BEGIN
  FOR r IN
    SELECT id, event_id FROM reservations
     WHERE status = 'ACTIVE' AND expires_at <= now()
     ORDER BY expires_at
     LIMIT p_batch
     FOR UPDATE SKIP LOCKED
  LOOP
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

-- ---------------------------------------------------------------------------------------
-- cancel_reservation: ACTIVE → CANCELLED with the holds released at once (the caller has
-- authorized the actor). Cancelling a cancelled reservation again is a no-op.
-- Returns {"outcome": CANCELLED | ALREADY_CANCELLED | NOT_ACTIVE | NOT_FOUND, reservation?,
-- seats?: [freed seat ids]}.
-- ---------------------------------------------------------------------------------------
CREATE FUNCTION cancel_reservation(p_id uuid, p_correlation_id text, p_actor jsonb)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_status text;
  v_seats  uuid[];
  v_json   jsonb;
BEGIN
  SELECT status INTO v_status FROM reservations WHERE id = p_id FOR UPDATE;
  IF NOT FOUND THEN
    RETURN jsonb_build_object('outcome', 'NOT_FOUND');
  ELSIF v_status = 'CANCELLED' THEN
    RETURN jsonb_build_object('outcome', 'ALREADY_CANCELLED', 'reservation', reservation_json(p_id));
  ELSIF v_status <> 'ACTIVE' THEN
    RETURN jsonb_build_object('outcome', 'NOT_ACTIVE', 'reservation', reservation_json(p_id));
  END IF;
  v_seats := release_reservation_holds(p_id);
  UPDATE reservations SET status = 'CANCELLED', cancelled_at = now(), updated_at = now()
   WHERE id = p_id;
  v_json := reservation_json(p_id);
  PERFORM outbox_append('reservation.cancelled', 'reservation', p_id, NULL,
                        jsonb_build_object('reservation', v_json,
                                           'releasedSeatIds', to_jsonb(v_seats)),
                        p_correlation_id, p_actor);
  RETURN jsonb_build_object('outcome', 'CANCELLED', 'reservation', v_json,
                            'seats', to_jsonb(v_seats));
END
$$;
