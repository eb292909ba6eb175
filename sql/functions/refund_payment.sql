-- refund_payment() — the current definition (migration 0010; earlier bodies there are history).
-- Edit this file, never a migration: `ticketd migrate` re-applies it when it changes.
--
-- refund_payment: a manual refund (ORG_ADMIN) after the provider confirmed it.
--   SUCCEEDED -> REFUNDED; its order and ISSUED tickets REFUNDED; sold seats AVAILABLE
--   again (a new ticket may be sold for them: the one-ISSUED-ticket-per-seat index only
--   counts ISSUED tickets); GA units returned to their slots; outbox payment.refunded;
--   an audit row.
--   A FAILED payment that needs a refund (late or mismatched money) gets refunded_at.
-- Outcomes: REFUNDED, NOT_FOUND, ALREADY_REFUNDED, NOT_REFUNDABLE (pending or plain failed).
CREATE OR REPLACE FUNCTION public.refund_payment(p_payment uuid, p_correlation_id text, p_actor jsonb, p_actor_user uuid, p_actor_api_key uuid, p_request_id text, p_ip inet, p_reason text)
 RETURNS jsonb
 LANGUAGE plpgsql
AS $function$
DECLARE
  p        payments%ROWTYPE;
  v_order  uuid;
  v_seats  uuid[];
  v_locked int;
  v_tickets int := 0;
BEGIN
  SELECT * INTO p FROM payments WHERE id = p_payment FOR UPDATE;
  IF NOT FOUND THEN
    RETURN jsonb_build_object('outcome', 'NOT_FOUND');
  END IF;
  IF p.status = 'REFUNDED' OR p.refunded_at IS NOT NULL THEN
    RETURN jsonb_build_object('outcome', 'ALREADY_REFUNDED', 'payment', payment_json(p.id));
  END IF;
  IF p.status = 'FAILED' AND p.needs_refund THEN
    UPDATE payments SET refunded_at = now(), updated_at = now() WHERE id = p.id;
  ELSIF p.status = 'SUCCEEDED' THEN
    -- finalization cannot race us: it locks the payment row first
    UPDATE payments SET status = 'REFUNDED', refunded_at = now(), updated_at = now()
     WHERE id = p.id;
    UPDATE orders SET status = 'REFUNDED', refunded_at = now(), updated_at = now()
     WHERE payment_id = p.id AND status = 'PAID'
    RETURNING id INTO v_order;
    IF v_order IS NOT NULL THEN
      UPDATE tickets SET status = 'REFUNDED', refunded_at = now(), updated_at = now()
       WHERE order_id = v_order AND status = 'ISSUED';
      GET DIAGNOSTICS v_tickets = ROW_COUNT;
      WITH freed AS (
        UPDATE event_seats s
           SET status = 'AVAILABLE', reservation_id = NULL, reserved_until = NULL,
               version = s.version + 1, updated_at = now()
          FROM order_items i
         WHERE i.order_id = v_order AND s.id = i.event_seat_id
           AND s.status = 'SOLD' AND s.reservation_id = p.reservation_id
        RETURNING s.id)
      SELECT array_agg(id ORDER BY id) INTO v_seats FROM freed;
      SELECT count(*) INTO v_locked FROM (
        SELECT 1 FROM event_ticket_type_slots sl
         WHERE (sl.ticket_type_id, sl.slot) IN (SELECT ticket_type_id, slot FROM reservation_items
                                                 WHERE reservation_id = p.reservation_id
                                                   AND slot IS NOT NULL)
         ORDER BY sl.ticket_type_id, sl.slot
         FOR UPDATE) ordered;
      UPDATE event_ticket_type_slots sl
         SET sold = sl.sold - g.quantity
        FROM (SELECT ticket_type_id, slot, sum(quantity)::int AS quantity
                FROM reservation_items
               WHERE reservation_id = p.reservation_id AND slot IS NOT NULL
               GROUP BY ticket_type_id, slot) g
       WHERE sl.ticket_type_id = g.ticket_type_id AND sl.slot = g.slot;
    END IF;
  ELSE
    RETURN jsonb_build_object('outcome', 'NOT_REFUNDABLE', 'status', p.status);
  END IF;
  PERFORM outbox_append('payment.refunded', 'payment', p.id, NULL,
                        jsonb_build_object('payment', payment_json(p.id), 'orderId', v_order,
                                           'ticketsRefunded', v_tickets,
                                           'releasedSeatIds', coalesce(to_jsonb(v_seats), '[]'),
                                           'reason', p_reason),
                        p_correlation_id, p_actor);
  INSERT INTO audit_logs (org_id, actor_user_id, actor_api_key_id, action, resource_type,
                          resource_id, details, request_id, ip)
  VALUES (p.org_id, p_actor_user, p_actor_api_key, 'payment.refunded', 'payment', p.id::text,
          jsonb_build_object('orderId', v_order, 'amountCents', p.amount_cents,
                             'currency', p.currency, 'ticketsRefunded', v_tickets,
                             'reason', p_reason),
          p_request_id, p_ip);
  RETURN jsonb_build_object('outcome', 'REFUNDED', 'payment', payment_json(p.id),
                            'eventId', p.event_id,
                            'seats', coalesce(to_jsonb(v_seats), '[]'));
END
$function$;
