-- finalize_payment_begin() — the current definition (migration 0010; earlier bodies there are history).
-- Edit this file, never a migration: `ticketd migrate` re-applies it when it changes.
--
-- Finalization (the payment.succeeded consumer), two calls in one transaction:
--   finalize_payment_begin locks the payment and decides:
--     NOOP             already finalized, refunded, or not a success (redelivery);
--     REFUND_REQUIRED  the reservation no longer holds what was paid for (expired,
--                      cancelled, a lapsed seat taken by someone else, or the money arrived
--                      after the hold's deadline): needs_refund + payment.refund_required;
--     ISSUE            with the number of tickets to issue. The caller mints that many
--                      ticket ids and signed codes, then calls finalize_payment_issue.
CREATE OR REPLACE FUNCTION public.finalize_payment_begin(p_payment uuid, p_correlation_id text)
 RETURNS jsonb
 LANGUAGE plpgsql
AS $function$
DECLARE
  p       payments%ROWTYPE;
  r       reservations%ROWTYPE;
  v_lost  int;
  v_units int;
  v_reason text;
BEGIN
  SELECT * INTO p FROM payments WHERE id = p_payment FOR UPDATE;
  IF NOT FOUND THEN
    RETURN jsonb_build_object('action', 'MISSING');
  END IF;
  IF p.finalized_at IS NOT NULL OR p.status <> 'SUCCEEDED' THEN
    RETURN jsonb_build_object('action', 'NOOP', 'status', p.status);
  END IF;
  SELECT * INTO r FROM reservations WHERE id = p.reservation_id FOR UPDATE;
  SELECT count(*) INTO v_lost
    FROM reservation_items i JOIN event_seats s ON s.id = i.event_seat_id
   WHERE i.reservation_id = r.id
     AND NOT (s.status = 'RESERVED' AND s.reservation_id = r.id);
  v_reason := CASE
    WHEN r.status <> 'ACTIVE' THEN 'RESERVATION_' || r.status
    WHEN p.succeeded_at > r.expires_at THEN 'PAID_AFTER_EXPIRY'
    WHEN v_lost > 0 THEN 'SEATS_RELEASED'
  END;
  IF v_reason IS NOT NULL THEN
    UPDATE payments SET needs_refund = true, finalized_at = now(), updated_at = now()
     WHERE id = p.id;
    PERFORM outbox_append('payment.refund_required', 'payment', p.id, NULL,
                          jsonb_build_object('payment', payment_json(p.id), 'reason', v_reason),
                          p_correlation_id,
                          jsonb_build_object('system', 'payment_succeeded_consumer'));
    RETURN jsonb_build_object('action', 'REFUND_REQUIRED', 'reason', v_reason,
                              'eventId', r.event_id, 'reservationId', r.id);
  END IF;
  SELECT coalesce(sum(quantity), 0) INTO v_units FROM reservation_items
   WHERE reservation_id = r.id;
  RETURN jsonb_build_object('action', 'ISSUE', 'units', v_units, 'orgId', r.org_id,
                            'eventId', r.event_id, 'reservationId', r.id);
END
$function$;
