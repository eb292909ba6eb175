-- process_webhook() — the current definition (migration 0010; earlier bodies there are history).
-- Edit this file, never a migration: `ticketd migrate` re-applies it when it changes.
--
-- process_webhook: one authenticated provider event (the signature was verified by the
-- caller). The unique index on (provider, provider_event_id) WHERE signature_valid makes a
-- repeated event a no-op: concurrent deliveries wait on the first one's index entry and
-- then answer duplicate. Transitions (enforced by enforce_status_transition):
--   PENDING  + SUCCEEDED -> SUCCEEDED, outbox payment.succeeded
--              (amount or currency differing from the payment: FAILED with needs_refund,
--               outbox payment.refund_required: money arrived that does not match)
--   PENDING  + FAILED    -> FAILED, outbox payment.failed (the hold stays until its TTL)
--   FAILED   + SUCCEEDED -> stays FAILED, needs_refund, outbox payment.refund_required
--   anything else        -> recorded, IGNORED (e.g. a late failure after a success)
CREATE OR REPLACE FUNCTION public.process_webhook(p_provider text, p_event_id text, p_ref text, p_status text, p_amount bigint, p_currency text, p_raw text, p_headers jsonb, p_correlation_id text)
 RETURNS jsonb
 LANGUAGE plpgsql
AS $function$
DECLARE
  v_hook    uuid;
  p         payments%ROWTYPE;
  v_outcome text;
  v_error   text;
  v_actor   jsonb := jsonb_build_object('provider', p_provider);
BEGIN
  INSERT INTO payment_webhook_events (provider, provider_event_id, signature_valid, status,
                                      raw_body, headers)
  VALUES (p_provider, p_event_id, true, 'RECEIVED', p_raw, p_headers)
  ON CONFLICT (provider, provider_event_id) WHERE signature_valid DO NOTHING
  RETURNING id INTO v_hook;
  IF v_hook IS NULL THEN
    SELECT w.payment_id INTO v_hook FROM payment_webhook_events w
     WHERE w.provider = p_provider AND w.provider_event_id = p_event_id AND w.signature_valid;
    RETURN jsonb_build_object('duplicate', true, 'processed', false, 'paymentId', v_hook,
                              'status', (SELECT status FROM payments WHERE id = v_hook));
  END IF;

  SELECT * INTO p FROM payments WHERE provider = p_provider AND provider_ref = p_ref FOR UPDATE;
  IF NOT FOUND THEN
    UPDATE payment_webhook_events SET status = 'IGNORED', processed_at = now(),
           error = 'no payment with this providerRef'
     WHERE id = v_hook;
    RETURN jsonb_build_object('duplicate', false, 'processed', false, 'paymentId', NULL,
                              'status', NULL, 'reason', 'UNKNOWN_PAYMENT');
  END IF;

  IF p.status = 'PENDING' AND p_status = 'SUCCEEDED'
     AND (p_amount IS NOT NULL AND p_amount <> p.amount_cents
          OR p_currency IS NOT NULL AND p_currency <> p.currency) THEN
    UPDATE payments SET status = 'FAILED', failed_at = now(), needs_refund = true,
           failure_reason = 'AMOUNT_MISMATCH', updated_at = now()
     WHERE id = p.id;
    PERFORM outbox_append('payment.refund_required', 'payment', p.id, NULL,
                          jsonb_build_object('payment', payment_json(p.id),
                                             'reason', 'AMOUNT_MISMATCH',
                                             'receivedAmountCents', p_amount,
                                             'receivedCurrency', p_currency),
                          p_correlation_id, v_actor);
    v_outcome := 'PROCESSED';
    v_error := 'amount or currency differs from the payment';
  ELSIF p.status = 'PENDING' AND p_status = 'SUCCEEDED' THEN
    UPDATE payments SET status = 'SUCCEEDED', succeeded_at = now(), updated_at = now()
     WHERE id = p.id;
    PERFORM outbox_append('payment.succeeded', 'payment', p.id, NULL,
                          jsonb_build_object('payment', payment_json(p.id)),
                          p_correlation_id, v_actor);
    v_outcome := 'PROCESSED';
  ELSIF p.status = 'PENDING' AND p_status = 'FAILED' THEN
    UPDATE payments SET status = 'FAILED', failed_at = now(), failure_reason = 'DECLINED',
           updated_at = now()
     WHERE id = p.id;
    PERFORM outbox_append('payment.failed', 'payment', p.id, NULL,
                          jsonb_build_object('payment', payment_json(p.id)),
                          p_correlation_id, v_actor);
    v_outcome := 'PROCESSED';
  ELSIF p.status = 'FAILED' AND p_status = 'SUCCEEDED' AND NOT p.needs_refund THEN
    -- money arrived for an attempt we gave up on: never resurrect it, return the money
    UPDATE payments SET needs_refund = true, updated_at = now() WHERE id = p.id;
    PERFORM outbox_append('payment.refund_required', 'payment', p.id, NULL,
                          jsonb_build_object('payment', payment_json(p.id),
                                             'reason', 'LATE_SUCCESS'),
                          p_correlation_id, v_actor);
    v_outcome := 'PROCESSED';
    v_error := 'late success of a failed payment: routed to refund';
  ELSE
    v_outcome := 'IGNORED';
    v_error := format('%s received while the payment is %s', p_status, p.status);
  END IF;

  UPDATE payment_webhook_events SET status = v_outcome, processed_at = now(), payment_id = p.id,
         error = v_error
   WHERE id = v_hook;
  RETURN jsonb_build_object('duplicate', false, 'processed', v_outcome = 'PROCESSED',
                            'paymentId', p.id,
                            'status', (SELECT status FROM payments WHERE id = p.id));
END
$function$;
