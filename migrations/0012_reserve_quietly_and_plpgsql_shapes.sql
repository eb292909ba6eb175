-- 0012: less database CPU per reservation and purchase (bench/reserve, perf on the PostgreSQL
-- backends of the 2-core reference machine):
--   1. iso_utc() was declared IMMUTABLE over to_char(), which is only STABLE, so the planner
--      never inlined it: every call ran the SQL-function executor, which parses and plans the
--      body once per calling query (7 % of reserve()'s CPU). STABLE is the truth and inlines.
--   2. reserve_quietly(): reserve() without the outbox NOTIFY. NOTIFY takes a database-wide lock
--      at commit and holds it until the commit record is flushed, so every notifying commit
--      queues behind the previous one's fsync (group commit is lost). An instance that runs its
--      own outbox publisher calls this and wakes that publisher in-process after the commit
--      (pgbench, 16 clients: 700 -> 930-1,200 reservations/s). Instances without a publisher
--      keep reserve() and its NOTIFY, so publishing elsewhere still starts within milliseconds.
--   3. payment_json(), ticket_json(), order_json() become PL/pgSQL for the reason 0008 gave for
--      reservation_json(): a LANGUAGE sql function that cannot be inlined (it reads tables) is
--      parsed and planned on every call; PL/pgSQL keeps its plan for the session.

ALTER FUNCTION iso_utc(timestamptz) STABLE;

CREATE FUNCTION reserve_quietly(p_user uuid, p_event uuid, p_key text, p_hash text,
                                p_seats uuid[], p_ga_types uuid[], p_ga_quantities int[],
                                p_ttl_seconds int, p_max_active int, p_lock_timeout_ms int,
                                p_correlation_id text, OUT o_outcome text,
                                OUT o_reservation jsonb, OUT o_seats jsonb, OUT o_detail jsonb)
LANGUAGE plpgsql AS $$
BEGIN
  -- Local to this transaction: read by the outbox_events trigger (migration 0004).
  PERFORM set_config('ticketd.outbox_notify', 'off', true);
  SELECT r.o_outcome, r.o_reservation, r.o_seats, r.o_detail
    INTO o_outcome, o_reservation, o_seats, o_detail
    FROM reserve(p_user, p_event, p_key, p_hash, p_seats, p_ga_types, p_ga_quantities,
                 p_ttl_seconds, p_max_active, p_lock_timeout_ms, p_correlation_id) r;
END
$$;

CREATE OR REPLACE FUNCTION payment_json(p_id uuid) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN (
    SELECT jsonb_build_object(
      'id', p.id, 'reservationId', p.reservation_id, 'eventId', p.event_id, 'orgId', p.org_id,
      'userId', p.user_id, 'status', p.status, 'provider', p.provider,
      'providerRef', p.provider_ref, 'amountCents', p.amount_cents, 'currency', p.currency,
      'checkoutUrl', p.checkout_url, 'needsRefund', p.needs_refund,
      'failureReason', p.failure_reason, 'createdAt', iso_utc(p.created_at),
      'succeededAt', iso_utc(p.succeeded_at), 'failedAt', iso_utc(p.failed_at),
      'refundedAt', iso_utc(p.refunded_at), 'finalizedAt', iso_utc(p.finalized_at),
      'orderId', (SELECT o.id FROM orders o WHERE o.payment_id = p.id))
    FROM payments p WHERE p.id = p_id);
END
$$;

CREATE OR REPLACE FUNCTION ticket_json(p_id uuid) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN (
    SELECT jsonb_build_object(
      'id', t.id, 'code', t.code, 'status', t.status, 'eventId', t.event_id, 'orgId', t.org_id,
      'orderId', t.order_id, 'userId', t.user_id, 'ticketTypeId', t.ticket_type_id,
      'seat', CASE WHEN s.id IS NULL THEN NULL ELSE jsonb_build_object(
                'id', s.id, 'seatCode', s.seat_code, 'seatNo', s.seat_number, 'label', s.label,
                'section', vs.name, 'row', vr.name) END,
      'issuedAt', iso_utc(t.issued_at), 'checkedInAt', iso_utc(t.checked_in_at),
      'refundedAt', iso_utc(t.refunded_at), 'voidedAt', iso_utc(t.voided_at))
    FROM tickets t
    LEFT JOIN event_seats s ON s.id = t.event_seat_id
    LEFT JOIN venue_sections vs ON vs.id = s.section_id
    LEFT JOIN venue_rows vr ON vr.id = s.row_id
    WHERE t.id = p_id);
END
$$;

CREATE OR REPLACE FUNCTION order_json(p_id uuid) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN (
    SELECT jsonb_build_object(
      'id', o.id, 'eventId', o.event_id, 'orgId', o.org_id, 'userId', o.user_id,
      'reservationId', o.reservation_id, 'paymentId', o.payment_id, 'status', o.status,
      'totalCents', o.total_cents, 'currency', o.currency, 'createdAt', iso_utc(o.created_at),
      'refundedAt', iso_utc(o.refunded_at),
      'items', coalesce((
        SELECT jsonb_agg(jsonb_build_object(
                 'id', i.id, 'kind', CASE WHEN i.event_seat_id IS NULL THEN 'GA' ELSE 'SEAT' END,
                 'eventSeatId', i.event_seat_id, 'seatCode', s.seat_code,
                 'ticketTypeId', i.ticket_type_id, 'quantity', i.quantity,
                 'unitPriceCents', i.unit_price_cents, 'unitFeesCents', i.unit_fees_cents)
               ORDER BY s.section_sort, s.row_sort, s.seat_number, i.ticket_type_id)
        FROM order_items i LEFT JOIN event_seats s ON s.id = i.event_seat_id
        WHERE i.order_id = o.id), '[]'::jsonb),
      'ticketIds', coalesce((SELECT jsonb_agg(t.id ORDER BY t.issued_at, t.id)
                               FROM tickets t WHERE t.order_id = o.id), '[]'::jsonb))
    FROM orders o WHERE o.id = p_id);
END
$$;
