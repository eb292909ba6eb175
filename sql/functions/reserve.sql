-- reserve() — the current definition (migration 0007, last redefined in 0009; earlier bodies there are history).
-- Edit this file, never a migration: `ticketd migrate` re-applies it when it changes.
--
-- The whole reservation in one call: the event and its sales window, the idempotency key, the
-- user's live holds, the seats and general-admission units, the items with their price snapshot
-- and the reservation.created outbox row. All or nothing, one round trip.
--
-- Outcomes (o_outcome, with o_reservation / o_seats / o_detail):
--   CREATED + reservation, seats [{id, status, reservedUntil}] for the realtime update
--   REPLAYED + reservation (same user, key and request hash) | KEY_REUSED (same key, other request)
--   EVENT_NOT_FOUND | NOT_ON_SALE + reason | ACTIVE_LIMIT + limit | UNKNOWN_TICKET_TYPE + ids
--   SEAT_UNAVAILABLE + seats [{id, reason}] | SOLD_OUT + ticketTypes [{ticketTypeId, requested,
--   available}]: judged before anything is written, so a refusal costs no writes. The RAISE
--   paths (SQLSTATE TD409) remain only as a safety net for room that vanishes between the check
--   and the take; 55P03 when a row stays locked past p_lock_timeout_ms.
--
-- Concurrency:
-- - Requested seats are locked in id order (multi-seat requests cannot deadlock), then claimed by
--   one conditional UPDATE (AVAILABLE, or RESERVED with a lapsed hold): a seat is taken at most
--   once, whatever the C++ does.
-- - General admission takes units from the type's capacity slots, starting at a random slot;
--   each slot's CHECK (reserved + sold <= capacity) is the authority.
-- - One transaction-scoped advisory lock per (user, event) serializes a user's own attempts, so a
--   key replays instead of racing and the active-hold limit cannot be overrun.
-- - Every wait is bounded by p_lock_timeout_ms (transaction-local lock_timeout).
-- - plan_cache_mode = force_generic_plan: with parameters PostgreSQL would otherwise re-plan
--   most statements on every call, which costs more than running them (bench/reserve).
CREATE OR REPLACE FUNCTION public.reserve(p_user uuid, p_event uuid, p_key text, p_hash text, p_seats uuid[], p_ga_types uuid[], p_ga_quantities integer[], p_ttl_seconds integer, p_max_active integer, p_lock_timeout_ms integer, p_correlation_id text, OUT o_outcome text, OUT o_reservation jsonb, OUT o_seats jsonb, OUT o_detail jsonb)
 RETURNS record
 LANGUAGE plpgsql
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
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
           jsonb_agg(reservation_item_json_build(i.id, i.event_seat_id, c.seat_code,
                                                 i.ticket_type_id, 1, i.unit_price_cents,
                                                 i.unit_fees_cents)
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
      v_ga_items := v_ga_items || reservation_item_json_build(
        v_item_id, NULL, NULL, v_type.id, v_remaining, v_type.price_cents, v_type.fees_cents);
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
      v_ga_items := v_ga_items || reservation_item_json_build(
        v_item_id, NULL, NULL, v_type.id, v_take, v_type.price_cents, v_type.fees_cents);
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
  o_reservation := reservation_json_build(
    v_id, p_event, v_ctx.org_id, p_user, 'ACTIVE', v_expires, v_total, v_ctx.currency, p_key,
    now(), NULL, NULL, NULL, coalesce(v_seat_items, '[]'::jsonb) || v_ga_items);
  o_seats := coalesce(o_seats, '[]'::jsonb);
  PERFORM outbox_append('reservation.created', 'reservation', v_id, NULL,
                        jsonb_build_object('reservation', o_reservation), p_correlation_id,
                        jsonb_build_object('userId', p_user, 'apiKeyId', NULL));
  o_outcome := 'CREATED';
END
$function$;
