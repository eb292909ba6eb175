-- finalize_payment_issue() — the current definition (migration 0010; earlier bodies there are history).
-- Edit this file, never a migration: `ticketd migrate` re-applies it when it changes.
--
-- finalize_payment_issue: confirms the reservation, sells its seats and GA units, writes the
-- order, its items and one ticket per unit (ids and codes from the caller, in unit order:
-- seat items by seat id, then GA units by ticket type), ticket.issued per ticket and one
-- seat.sold, and marks the payment finalized. Must follow finalize_payment_begin's ISSUE in
-- the same transaction (the payment and reservation rows are locked).
CREATE OR REPLACE FUNCTION public.finalize_payment_issue(p_payment uuid, p_ticket_ids uuid[], p_codes text[], p_correlation_id text)
 RETURNS jsonb
 LANGUAGE plpgsql
AS $function$
DECLARE
  p       payments%ROWTYPE;
  r       reservations%ROWTYPE;
  v_order uuid := gen_random_uuid();
  v_seats uuid[];
  v_count int;
  v_locked int;
  v_actor jsonb := jsonb_build_object('system', 'payment_succeeded_consumer');
  t       record;
BEGIN
  SELECT * INTO p FROM payments WHERE id = p_payment;
  SELECT * INTO r FROM reservations WHERE id = p.reservation_id;

  UPDATE reservations SET status = 'CONFIRMED', confirmed_at = now(), updated_at = now()
   WHERE id = r.id;

  WITH sold AS (
    UPDATE event_seats s
       SET status = 'SOLD', reserved_until = NULL, version = s.version + 1, updated_at = now()
      FROM reservation_items i
     WHERE i.reservation_id = r.id AND s.id = i.event_seat_id
       AND s.reservation_id = r.id AND s.status = 'RESERVED'
    RETURNING s.id)
  SELECT array_agg(id ORDER BY id) INTO v_seats FROM sold;

  -- GA: reserved units become sold units, slots locked in the global order
  SELECT count(*) INTO v_locked FROM (
    SELECT 1 FROM event_ticket_type_slots sl
     WHERE (sl.ticket_type_id, sl.slot) IN (SELECT ticket_type_id, slot FROM reservation_items
                                             WHERE reservation_id = r.id AND slot IS NOT NULL)
     ORDER BY sl.ticket_type_id, sl.slot
     FOR UPDATE) ordered;
  UPDATE event_ticket_type_slots sl
     SET reserved = sl.reserved - g.quantity, sold = sl.sold + g.quantity
    FROM (SELECT ticket_type_id, slot, sum(quantity)::int AS quantity
            FROM reservation_items
           WHERE reservation_id = r.id AND slot IS NOT NULL
           GROUP BY ticket_type_id, slot) g
   WHERE sl.ticket_type_id = g.ticket_type_id AND sl.slot = g.slot;

  INSERT INTO orders (id, org_id, event_id, user_id, reservation_id, payment_id, total_cents,
                      currency)
  VALUES (v_order, r.org_id, r.event_id, r.user_id, r.id, p.id, r.total_cents, r.currency);

  INSERT INTO order_items (order_id, org_id, event_id, event_seat_id, ticket_type_id, quantity,
                           unit_price_cents, unit_fees_cents)
  SELECT v_order, r.org_id, r.event_id, i.event_seat_id, i.ticket_type_id, 1,
         i.unit_price_cents, i.unit_fees_cents
    FROM reservation_items i
   WHERE i.reservation_id = r.id AND i.event_seat_id IS NOT NULL
  UNION ALL
  SELECT v_order, r.org_id, r.event_id, NULL, i.ticket_type_id, sum(i.quantity)::int,
         i.unit_price_cents, i.unit_fees_cents
    FROM reservation_items i
   WHERE i.reservation_id = r.id AND i.event_seat_id IS NULL
   GROUP BY i.ticket_type_id, i.unit_price_cents, i.unit_fees_cents;

  WITH units AS (
    SELECT oi.id AS item_id, oi.event_seat_id, oi.ticket_type_id,
           row_number() OVER (ORDER BY oi.event_seat_id NULLS LAST, oi.ticket_type_id,
                                       oi.unit_price_cents, g) AS n
      FROM order_items oi CROSS JOIN LATERAL generate_series(1, oi.quantity) g
     WHERE oi.order_id = v_order)
  INSERT INTO tickets (id, org_id, event_id, order_id, order_item_id, user_id, event_seat_id,
                       ticket_type_id, code)
  SELECT p_ticket_ids[u.n], r.org_id, r.event_id, v_order, u.item_id, r.user_id,
         u.event_seat_id, u.ticket_type_id, p_codes[u.n]
    FROM units u;
  GET DIAGNOSTICS v_count = ROW_COUNT;
  IF v_count <> coalesce(array_length(p_ticket_ids, 1), 0)
     OR v_count <> coalesce(array_length(p_codes, 1), 0) THEN
    RAISE EXCEPTION 'finalize_payment_issue: % units but % ids and % codes', v_count,
      array_length(p_ticket_ids, 1), array_length(p_codes, 1)
      USING ERRCODE = 'invalid_parameter_value';
  END IF;

  UPDATE payments SET finalized_at = now(), updated_at = now() WHERE id = p.id;

  FOR t IN SELECT id FROM tickets WHERE order_id = v_order ORDER BY id LOOP
    PERFORM outbox_append('ticket.issued', 'order', v_order, NULL,
                          jsonb_build_object('ticket', ticket_json(t.id) - 'code',
                                             'orderId', v_order, 'paymentId', p.id,
                                             'reservationId', r.id),
                          p_correlation_id, v_actor);
  END LOOP;
  IF v_seats IS NOT NULL THEN
    PERFORM outbox_append('seat.sold', 'event', r.event_id, NULL,
                          jsonb_build_object('eventId', r.event_id, 'orderId', v_order,
                                             'reservationId', r.id,
                                             'seatIds', to_jsonb(v_seats)),
                          p_correlation_id, v_actor);
  END IF;
  RETURN jsonb_build_object('orderId', v_order, 'eventId', r.event_id, 'reservationId', r.id,
                            'tickets', v_count, 'seats', coalesce(to_jsonb(v_seats), '[]'));
END
$function$;
