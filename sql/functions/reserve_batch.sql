-- reserve_batch() — defined only here (no migration has it).
-- Edit this file, never a migration: `ticketd migrate` re-applies it when it changes.
--
-- Group commit for holds (reservations::Batcher): decides a batch of reservation requests in one
-- transaction, in arrival order, with reserve()'s rules and answers, and writes every winner with
-- one statement (reservations, seats, GA slot counters, items, outbox rows together). About 70 %
-- of a lone reservation's database CPU is per transaction (executor start-up, locks on ~30
-- relations and indexes, commit), so deciding many requests per transaction is what lifts the
-- ceiling (bench/RESULTS.md).
--
-- Request i (1-based) is (p_users[i], p_events[i], p_keys[i], p_hashes[i], p_correlation_ids[i])
-- with the next p_seat_counts[i] entries of p_seats and the next p_ga_counts[i] entries of
-- (p_ga_types, p_ga_quantities). One row per request: o_outcome is one of reserve()'s outcomes
-- with the same o_reservation / o_seats / o_detail, or DEFERRED: this call could not decide it
-- without waiting, and the caller runs it alone through reserve(), which waits (bounded) on
-- what another transaction holds. Deferred are:
-- - a later request of a (user, event) already in the batch, and a request whose (user, event)
--   advisory lock another transaction holds (reserve()'s lock, taken here with try-lock);
-- - a request with a seat another transaction has locked (seats are locked SKIP LOCKED);
-- - a GA request the unlocked slots cannot serve although the type has room.
-- This function therefore never waits on a row or advisory lock another reservation holds, so
-- batches of several connections and instances cannot deadlock with each other or with
-- reserve(); the remaining waits (a concurrent insert of the same idempotency key for another
-- event, foreign-key share locks) are bounded by p_lock_timeout_ms, and any error rolls the whole
-- batch back: the caller then runs each request alone, so one bad request never decides others.
--
-- Inside a batch, requests are decided in order: an earlier winner's seats are HELD and its GA
-- units are gone for later requests, and a refused request takes nothing.
CREATE OR REPLACE FUNCTION public.reserve_batch(p_users uuid[], p_events uuid[], p_keys text[], p_hashes text[], p_correlation_ids text[], p_seat_counts integer[], p_seats uuid[], p_ga_counts integer[], p_ga_types uuid[], p_ga_quantities integer[], p_ttl_seconds integer, p_max_active integer, p_lock_timeout_ms integer, p_notify boolean)
 RETURNS TABLE(o_request integer, o_outcome text, o_reservation jsonb, o_seats jsonb, o_detail jsonb)
 LANGUAGE plpgsql
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
DECLARE
  v_n          int := cardinality(p_users);
  v_expires    timestamptz := now() + make_interval(secs => p_ttl_seconds);
  v_outcome    text[] := array_fill(NULL::text, ARRAY[v_n]);
  v_reply      jsonb[] := array_fill(NULL::jsonb, ARRAY[v_n]);
  v_seats_out  jsonb[] := array_fill(NULL::jsonb, ARRAY[v_n]);
  v_detail     jsonb[] := array_fill(NULL::jsonb, ARRAY[v_n]);
  v_org        uuid[] := array_fill(NULL::uuid, ARRAY[v_n]);
  v_currency   text[] := array_fill(NULL::text, ARRAY[v_n]);
  v_total      bigint[] := array_fill(0::bigint, ARRAY[v_n]);
  v_seat_from  int[] := array_fill(0, ARRAY[v_n]);
  v_ga_from    int[] := array_fill(0, ARRAY[v_n]);
  v_locked     int[];
  v_ctx        record;
  -- the seats candidates asked for, as locked by this call
  v_wanted     uuid[] := '{}';
  v_seat_ids   uuid[];
  v_seat_event uuid[];
  v_seat_state text[];
  v_seat_cost  bigint[];
  v_seat_taken boolean[];
  v_busy       uuid[] := '{}';
  -- the GA types candidates asked for
  v_want_types uuid[] := '{}';
  v_want_q     int[] := '{}';
  v_type_ids   uuid[] := '{}';
  v_type_event uuid[];
  v_type_ga    boolean[];
  v_type_cost  bigint[];
  v_type_free  int[];   -- units left over all slots (committed state)
  v_type_room  int[];   -- units left in the slots this call locked
  v_type_used  int[];   -- units given to earlier winners of this batch
  v_slot_types uuid[] := '{}';
  v_slot_nos   smallint[] := '{}';
  v_slot_free  int[] := '{}';
  v_start      int := floor(random() * 256)::int;
  -- winners, and what they take
  v_win        int[] := '{}';
  v_win_ids    uuid[] := '{}';
  v_ws_req     int[] := '{}';
  v_ws_seat    uuid[] := '{}';
  v_wg_req     int[] := '{}';
  v_wg_type    uuid[] := '{}';
  v_wg_q       int[] := '{}';
  -- per request being decided
  v_unknown    jsonb;
  v_short      jsonb;
  v_refused    jsonb;
  v_defer      boolean;
  v_reason     text;
  v_req_types  uuid[];
  v_req_q      int[];
  v_cost       bigint;
  v_p          int;
  v_t          int;
  v_k          int;
  v_from       int := 1;
  v_gfrom      int := 1;
  -- what the write statement did
  v_out_req    int[];
  v_out_res    jsonb[];
  v_out_seats  jsonb[];
  v_n_res      bigint;
  v_n_claimed  bigint;
  v_n_units    bigint;
  v_n_outbox   bigint;
BEGIN
  PERFORM set_config('lock_timeout', p_lock_timeout_ms || 'ms', true);
  IF NOT p_notify THEN
    -- Local to this transaction: read by the outbox_events trigger (migration 0004).
    PERFORM set_config('ticketd.outbox_notify', 'off', true);
  END IF;
  FOR i IN 1 .. v_n LOOP
    v_seat_from[i] := v_from;
    v_ga_from[i] := v_gfrom;
    v_from := v_from + p_seat_counts[i];
    v_gfrom := v_gfrom + p_ga_counts[i];
  END LOOP;

  -- reserve()'s per-(user, event) lock, without waiting; its own statement, so the reads below
  -- see whatever the previous holder committed.
  SELECT coalesce(array_agg(f.i), '{}') INTO v_locked
    FROM (SELECT DISTINCT ON (x.u, x.e) x.i::int AS i, x.u, x.e
            FROM unnest(p_users, p_events) WITH ORDINALITY AS x(u, e, i)
           ORDER BY x.u, x.e, x.i) f
   WHERE pg_try_advisory_xact_lock(hashtextextended(f.u::text || '/' || f.e::text, 0));

  FOR v_ctx IN
    SELECT x.i::int AS i, e.org_id, e.currency, e.status, e.published_at, e.starts_at,
           e.sales_start_at, e.sales_end_at, k.id AS existing_id, k.request_hash AS existing_hash,
           x.h,
           (SELECT count(*) FROM reservations a
             WHERE a.event_id = x.e AND a.user_id = x.u AND a.status = 'ACTIVE'
               AND a.expires_at > now()) AS active
      FROM unnest(p_users, p_events, p_keys, p_hashes) WITH ORDINALITY AS x(u, e, k, h, i)
      LEFT JOIN events e ON e.id = x.e
      LEFT JOIN reservations k ON k.user_id = x.u AND k.idempotency_key = x.k
     WHERE x.i = ANY(v_locked)
  LOOP
    IF v_ctx.existing_id IS NOT NULL THEN
      IF v_ctx.existing_hash <> v_ctx.h THEN
        v_outcome[v_ctx.i] := 'KEY_REUSED';
      ELSE
        v_outcome[v_ctx.i] := 'REPLAYED';
        v_reply[v_ctx.i] := reservation_json(v_ctx.existing_id);
      END IF;
    ELSIF v_ctx.org_id IS NULL OR v_ctx.published_at IS NULL THEN
      v_outcome[v_ctx.i] := 'EVENT_NOT_FOUND';
    ELSIF v_ctx.status <> 'PUBLISHED' THEN
      v_outcome[v_ctx.i] := 'NOT_ON_SALE';
      v_detail[v_ctx.i] := jsonb_build_object('reason', 'EVENT_CANCELLED');
    ELSIF v_ctx.starts_at <= now() THEN
      v_outcome[v_ctx.i] := 'NOT_ON_SALE';
      v_detail[v_ctx.i] := jsonb_build_object('reason', 'EVENT_STARTED');
    ELSIF v_ctx.sales_start_at IS NOT NULL AND now() < v_ctx.sales_start_at THEN
      v_outcome[v_ctx.i] := 'NOT_ON_SALE';
      v_detail[v_ctx.i] := jsonb_build_object('reason', 'SALES_NOT_STARTED',
                                              'salesStartAt', iso_utc(v_ctx.sales_start_at));
    ELSIF v_ctx.sales_end_at IS NOT NULL AND now() >= v_ctx.sales_end_at THEN
      v_outcome[v_ctx.i] := 'NOT_ON_SALE';
      v_detail[v_ctx.i] := jsonb_build_object('reason', 'SALES_ENDED');
    ELSIF v_ctx.active >= p_max_active THEN
      v_outcome[v_ctx.i] := 'ACTIVE_LIMIT';
      v_detail[v_ctx.i] := jsonb_build_object('limit', p_max_active);
    ELSE
      v_outcome[v_ctx.i] := 'CANDIDATE';
      v_org[v_ctx.i] := v_ctx.org_id;
      v_currency[v_ctx.i] := v_ctx.currency;
      v_wanted := v_wanted
        || p_seats[v_seat_from[v_ctx.i] : v_seat_from[v_ctx.i] + p_seat_counts[v_ctx.i] - 1];
      v_want_types := v_want_types
        || p_ga_types[v_ga_from[v_ctx.i] : v_ga_from[v_ctx.i] + p_ga_counts[v_ctx.i] - 1];
      v_want_q := v_want_q
        || p_ga_quantities[v_ga_from[v_ctx.i] : v_ga_from[v_ctx.i] + p_ga_counts[v_ctx.i] - 1];
    END IF;
  END LOOP;

  IF cardinality(v_wanted) > 0 THEN
    -- Lock the wanted seats in id order, skipping those another transaction holds, and judge
    -- them on their committed state (reserve()'s reasons).
    SELECT coalesce(array_agg(x.id ORDER BY x.id), '{}'), array_agg(x.event_id ORDER BY x.id),
           array_agg(x.state ORDER BY x.id), array_agg(x.cost ORDER BY x.id)
      INTO v_seat_ids, v_seat_event, v_seat_state, v_seat_cost
      FROM (SELECT s.id, s.event_id,
                   CASE WHEN s.status = 'SOLD' THEN 'SOLD'
                        WHEN s.status = 'BLOCKED' THEN 'BLOCKED'
                        WHEN s.status = 'RESERVED' AND s.reserved_until > now() THEN 'HELD'
                        WHEN coalesce(s.price_cents, t.price_cents) IS NULL THEN 'NOT_FOR_SALE'
                        ELSE 'OK' END AS state,
                   coalesce(s.price_cents, t.price_cents, 0)
                     + coalesce(s.fees_cents, t.fees_cents, 0) AS cost
              FROM (SELECT id, event_id, status, reserved_until, price_cents, fees_cents,
                           ticket_type_id
                      FROM event_seats WHERE id = ANY(v_wanted)
                     ORDER BY id
                       FOR UPDATE SKIP LOCKED) s
              LEFT JOIN event_ticket_types t ON t.id = s.ticket_type_id) x;
    v_seat_taken := array_fill(false, ARRAY[cardinality(v_seat_ids)]);
    -- A wanted seat that exists but was skipped is locked by another transaction.
    SELECT coalesce(array_agg(s.id), '{}') INTO v_busy
      FROM event_seats s
     WHERE s.id = ANY(v_wanted) AND NOT (s.id = ANY(v_seat_ids));
  END IF;

  IF cardinality(v_want_types) > 0 THEN
    SELECT coalesce(array_agg(t.id), '{}'), array_agg(t.event_id), array_agg(t.kind = 'GA'),
           array_agg(t.price_cents + t.fees_cents), array_agg(f.free)
      INTO v_type_ids, v_type_event, v_type_ga, v_type_cost, v_type_free
      FROM event_ticket_types t
      CROSS JOIN LATERAL (
        SELECT coalesce(sum(s.capacity - s.reserved - s.sold), 0)::int AS free
          FROM event_ticket_type_slots s WHERE s.ticket_type_id = t.id) f
     WHERE t.id = ANY(v_want_types);
    -- Lock enough slots with room for everything asked of each type, from a random starting
    -- slot (like reserve()'s fast path), skipping slots others hold.
    SELECT coalesce(array_agg(l.ticket_type_id ORDER BY l.ticket_type_id, l.o), '{}'),
           coalesce(array_agg(l.slot ORDER BY l.ticket_type_id, l.o), '{}'),
           coalesce(array_agg(l.free ORDER BY l.ticket_type_id, l.o), '{}')
      INTO v_slot_types, v_slot_nos, v_slot_free
      FROM (SELECT s.ticket_type_id, s.slot, s.capacity - s.reserved - s.sold AS free,
                   (s.slot - v_start + 256) % 256 AS o
              FROM event_ticket_type_slots s
             WHERE (s.ticket_type_id, s.slot) IN (
                     SELECT c.ticket_type_id, c.slot
                       FROM (SELECT s2.ticket_type_id, s2.slot, d.want,
                                    sum(s2.capacity - s2.reserved - s2.sold) OVER (
                                      PARTITION BY s2.ticket_type_id
                                      ORDER BY (s2.slot - v_start + 256) % 256
                                      ROWS UNBOUNDED PRECEDING)
                                      - (s2.capacity - s2.reserved - s2.sold) AS before
                               FROM event_ticket_type_slots s2
                               JOIN (SELECT u.id, sum(u.q) AS want
                                       FROM unnest(v_want_types, v_want_q) AS u(id, q)
                                      GROUP BY u.id) d ON d.id = s2.ticket_type_id
                              WHERE s2.capacity - s2.reserved - s2.sold > 0) c
                      WHERE c.before < c.want)
             ORDER BY s.ticket_type_id, s.slot
               FOR UPDATE SKIP LOCKED) l;
    v_type_room := array_fill(0, ARRAY[cardinality(v_type_ids)]);
    v_type_used := array_fill(0, ARRAY[cardinality(v_type_ids)]);
    FOR v_k IN 1 .. cardinality(v_slot_types) LOOP
      v_t := array_position(v_type_ids, v_slot_types[v_k]);
      v_type_room[v_t] := v_type_room[v_t] + greatest(v_slot_free[v_k], 0);
    END LOOP;
  END IF;

  -- Decide the candidates in arrival order.
  FOR i IN 1 .. v_n LOOP
    CONTINUE WHEN v_outcome[i] IS DISTINCT FROM 'CANDIDATE';
    v_unknown := '[]';
    v_short := '[]';
    v_refused := '[]';
    v_defer := false;
    v_cost := 0;
    -- GA: what is asked of each type (a type may repeat), unknown types, room.
    v_req_types := '{}';
    v_req_q := '{}';
    FOR v_k IN v_ga_from[i] .. v_ga_from[i] + p_ga_counts[i] - 1 LOOP
      v_t := array_position(v_type_ids, p_ga_types[v_k]);
      IF v_t IS NULL OR v_type_event[v_t] <> p_events[i] OR NOT v_type_ga[v_t] THEN
        v_unknown := v_unknown || to_jsonb(p_ga_types[v_k]);
        CONTINUE;
      END IF;
      v_p := array_position(v_req_types, p_ga_types[v_k]);
      IF v_p IS NULL THEN
        v_req_types := v_req_types || p_ga_types[v_k];
        v_req_q := v_req_q || p_ga_quantities[v_k];
      ELSE
        v_req_q[v_p] := v_req_q[v_p] + p_ga_quantities[v_k];
      END IF;
    END LOOP;
    IF jsonb_array_length(v_unknown) > 0 THEN
      v_outcome[i] := 'UNKNOWN_TICKET_TYPE';
      v_detail[i] := jsonb_build_object('ticketTypeIds', v_unknown);
      CONTINUE;
    END IF;
    FOR v_k IN 1 .. cardinality(v_req_types) LOOP
      v_t := array_position(v_type_ids, v_req_types[v_k]);
      IF v_type_free[v_t] - v_type_used[v_t] < v_req_q[v_k] THEN
        v_short := v_short || jsonb_build_object(
          'ticketTypeId', v_req_types[v_k], 'requested', v_req_q[v_k],
          'available', greatest(v_type_free[v_t] - v_type_used[v_t], 0));
      ELSIF v_type_room[v_t] - v_type_used[v_t] < v_req_q[v_k] THEN
        v_defer := true;
      END IF;
      v_cost := v_cost + v_req_q[v_k] * v_type_cost[v_t];
    END LOOP;
    IF jsonb_array_length(v_short) > 0 THEN
      v_outcome[i] := 'SOLD_OUT';
      v_detail[i] := jsonb_build_object('ticketTypes', v_short);
      CONTINUE;
    END IF;
    -- Seats, in request order: each refused one with reserve()'s reason (HELD also when an
    -- earlier winner of this batch took it).
    FOR v_k IN v_seat_from[i] .. v_seat_from[i] + p_seat_counts[i] - 1 LOOP
      v_p := array_position(v_seat_ids, p_seats[v_k]);
      v_reason := CASE
        WHEN v_p IS NULL AND p_seats[v_k] = ANY(v_busy) THEN 'BUSY'
        WHEN v_p IS NULL OR v_seat_event[v_p] <> p_events[i] THEN 'NOT_FOUND'
        WHEN v_seat_taken[v_p] THEN 'HELD'
        ELSE v_seat_state[v_p] END;
      IF v_reason = 'BUSY' THEN
        v_defer := true;
      ELSIF v_reason <> 'OK' THEN
        v_refused := v_refused || jsonb_build_object(
          'id', p_seats[v_k], 'index', v_k - v_seat_from[i], 'reason', v_reason);
      ELSE
        v_cost := v_cost + v_seat_cost[v_p];
      END IF;
    END LOOP;
    IF v_defer THEN
      -- Judged against rows another transaction holds: reserve() waits for them.
      v_outcome[i] := 'DEFERRED';
      CONTINUE;
    END IF;
    IF jsonb_array_length(v_refused) > 0 THEN
      v_outcome[i] := 'SEAT_UNAVAILABLE';
      v_detail[i] := jsonb_build_object('seats', v_refused);
      CONTINUE;
    END IF;
    -- A winner: later requests of this batch find its seats held and its units gone.
    v_outcome[i] := 'CREATED';
    v_total[i] := v_cost;
    v_win := v_win || i;
    v_win_ids := v_win_ids || gen_random_uuid();
    FOR v_k IN v_seat_from[i] .. v_seat_from[i] + p_seat_counts[i] - 1 LOOP
      v_seat_taken[array_position(v_seat_ids, p_seats[v_k])] := true;
      v_ws_req := v_ws_req || i;
      v_ws_seat := v_ws_seat || p_seats[v_k];
    END LOOP;
    FOR v_k IN 1 .. cardinality(v_req_types) LOOP
      v_t := array_position(v_type_ids, v_req_types[v_k]);
      v_type_used[v_t] := v_type_used[v_t] + v_req_q[v_k];
      v_wg_req := v_wg_req || i;
      v_wg_type := v_wg_type || v_req_types[v_k];
      v_wg_q := v_wg_q || v_req_q[v_k];
    END LOOP;
  END LOOP;

  IF cardinality(v_win) > 0 THEN
    -- Every winner written at once. GA units: the winners' demand of a type, laid end to end in
    -- arrival order, against the locked slots' room laid end to end; each overlap is an item.
    WITH w AS MATERIALIZED (
      SELECT x.i, x.id, p_users[x.i] AS user_id, p_events[x.i] AS event_id, v_org[x.i] AS org_id,
             v_currency[x.i] AS currency, p_keys[x.i] AS key, p_hashes[x.i] AS hash,
             v_total[x.i] AS total, p_correlation_ids[x.i] AS correlation_id
        FROM unnest(v_win, v_win_ids) AS x(i, id)
    ), res AS (
      INSERT INTO reservations (id, event_id, org_id, user_id, idempotency_key, request_hash,
                                expires_at, total_cents, currency)
      SELECT w.id, w.event_id, w.org_id, w.user_id, w.key, w.hash, v_expires, w.total, w.currency
        FROM w ORDER BY w.user_id, w.key
      RETURNING id
    ), si AS MATERIALIZED (
      SELECT x.i, gen_random_uuid() AS item_id, w.id AS reservation_id, w.event_id, w.org_id,
             s.id AS seat_id, s.ticket_type_id, coalesce(s.price_cents, t.price_cents) AS price,
             coalesce(s.fees_cents, t.fees_cents, 0) AS fees, s.seat_code, s.section_sort,
             s.row_sort, s.seat_number
        FROM unnest(v_ws_req, v_ws_seat) AS x(i, seat)
        JOIN w ON w.i = x.i
        JOIN event_seats s ON s.id = x.seat
        LEFT JOIN event_ticket_types t ON t.id = s.ticket_type_id
    ), claimed AS (
      UPDATE event_seats s
         SET status = 'RESERVED', reservation_id = si.reservation_id, reserved_until = v_expires,
             version = s.version + 1, updated_at = now()
        FROM si
       WHERE s.id = si.seat_id AND s.event_id = si.event_id
         AND (s.status = 'AVAILABLE' OR (s.status = 'RESERVED' AND s.reserved_until <= now()))
      RETURNING s.id
    ), demand AS (
      SELECT x.i, w.id AS reservation_id, w.event_id, w.org_id, x.type, x.q,
             sum(x.q) OVER (PARTITION BY x.type ORDER BY x.i ROWS UNBOUNDED PRECEDING) AS d_end
        FROM unnest(v_wg_req, v_wg_type, v_wg_q) AS x(i, type, q)
        JOIN w ON w.i = x.i
    ), room AS (
      SELECT x.type, x.slot, x.free,
             sum(x.free) OVER (PARTITION BY x.type ORDER BY x.o ROWS UNBOUNDED PRECEDING) AS s_end
        FROM unnest(v_slot_types, v_slot_nos, v_slot_free) WITH ORDINALITY AS x(type, slot, free, o)
       WHERE x.free > 0
    ), gi AS MATERIALIZED (
      SELECT d.i, gen_random_uuid() AS item_id, d.reservation_id, d.event_id, d.org_id,
             d.type, r.slot,
             (least(d.d_end, r.s_end) - greatest(d.d_end - d.q, r.s_end - r.free))::int AS take,
             t.price_cents, t.fees_cents
        FROM demand d
        JOIN room r ON r.type = d.type AND r.s_end - r.free < d.d_end AND r.s_end > d.d_end - d.q
        JOIN event_ticket_types t ON t.id = d.type
    ), taken AS (
      UPDATE event_ticket_type_slots s SET reserved = s.reserved + g.take
        FROM (SELECT gi.type, gi.slot, sum(gi.take) AS take FROM gi GROUP BY gi.type, gi.slot) g
       WHERE s.ticket_type_id = g.type AND s.slot = g.slot
      RETURNING s.slot
    ), items AS (
      INSERT INTO reservation_items (id, reservation_id, org_id, event_id, event_seat_id,
                                     ticket_type_id, slot, quantity, unit_price_cents,
                                     unit_fees_cents)
      SELECT si.item_id, si.reservation_id, si.org_id, si.event_id, si.seat_id, si.ticket_type_id,
             NULL, 1, si.price, si.fees
        FROM si
      UNION ALL
      SELECT gi.item_id, gi.reservation_id, gi.org_id, gi.event_id, NULL, gi.type, gi.slot,
             gi.take, gi.price_cents, gi.fees_cents
        FROM gi
      RETURNING id
    ), js AS MATERIALIZED (
      SELECT w.i, w.id, w.user_id, w.correlation_id,
             reservation_json_build(
               w.id, w.event_id, w.org_id, w.user_id, 'ACTIVE', v_expires, w.total, w.currency,
               w.key, now(), NULL, NULL, NULL,
               coalesce((SELECT jsonb_agg(reservation_item_json_build(
                                  si.item_id, si.seat_id, si.seat_code, si.ticket_type_id, 1,
                                  si.price, si.fees)
                                ORDER BY si.section_sort, si.row_sort, si.seat_number)
                           FROM si WHERE si.i = w.i), '[]'::jsonb)
               || coalesce((SELECT jsonb_agg(reservation_item_json_build(
                                     gi.item_id, NULL, NULL, gi.type, gi.take, gi.price_cents,
                                     gi.fees_cents)
                                   ORDER BY gi.type, gi.slot)
                              FROM gi WHERE gi.i = w.i), '[]'::jsonb)) AS reservation,
             coalesce((SELECT jsonb_agg(jsonb_build_object('id', si.seat_id, 'status', 'RESERVED',
                                                           'reservedUntil', iso_utc(v_expires))
                                        ORDER BY si.section_sort, si.row_sort, si.seat_number)
                         FROM si WHERE si.i = w.i), '[]'::jsonb) AS seats
        FROM w
    ), outbox AS (
      INSERT INTO outbox_events (id, aggregate_type, aggregate_id, topic, event_type, message_key,
                                 payload, correlation_id)
      SELECT o.event_id, 'reservation', o.id, 'reservation.created', 'reservation.created',
             o.id::text,
             outbox_envelope_build(o.event_id, 'reservation.created',
                                   jsonb_build_object('reservation', o.reservation),
                                   o.correlation_id,
                                   jsonb_build_object('userId', o.user_id, 'apiKeyId', NULL)),
             NULLIF(o.correlation_id, '')
        FROM (SELECT js.*, gen_random_uuid() AS event_id FROM js ORDER BY js.i) o
      RETURNING id
    )
    SELECT array_agg(js.i), array_agg(js.reservation), array_agg(js.seats),
           (SELECT count(*) FROM res), (SELECT count(*) FROM claimed),
           (SELECT coalesce(sum(gi.take), 0) FROM gi), (SELECT count(*) FROM outbox)
      INTO v_out_req, v_out_res, v_out_seats, v_n_res, v_n_claimed, v_n_units, v_n_outbox
      FROM js;
    -- Not reachable while the judged rows stay locked; kept as a safety net that rolls the
    -- batch back (the caller then runs each request alone).
    IF v_n_res <> cardinality(v_win) OR v_n_claimed <> cardinality(v_ws_seat)
       OR v_n_units <> (SELECT coalesce(sum(q), 0) FROM unnest(v_wg_q) AS q)
       OR v_n_outbox <> cardinality(v_win) THEN
      RAISE EXCEPTION 'reserve_batch: wrote % of % reservations, % of % seats, % of % units, % outbox rows',
        v_n_res, cardinality(v_win), v_n_claimed, cardinality(v_ws_seat), v_n_units,
        (SELECT coalesce(sum(q), 0) FROM unnest(v_wg_q) AS q), v_n_outbox
        USING ERRCODE = 'TD500';
    END IF;
    FOR v_k IN 1 .. cardinality(v_out_req) LOOP
      v_reply[v_out_req[v_k]] := v_out_res[v_k];
      v_seats_out[v_out_req[v_k]] := v_out_seats[v_k];
    END LOOP;
  END IF;

  RETURN QUERY
    SELECT g.i, coalesce(v_outcome[g.i], 'DEFERRED'), v_reply[g.i], v_seats_out[g.i],
           v_detail[g.i]
      FROM generate_series(1, v_n) AS g(i);
END
$function$;
