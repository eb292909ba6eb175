-- begin_refund() — the current definition. Edit this file, never a migration: `ticketd migrate`
-- re-applies it when it changes. The column it stamps comes from migration 0013.
--
-- Claims a payment for one refund under its row lock, so exactly one caller reaches the
-- provider. Outcomes: STARTED (the caller owns the refund now: it calls the provider, then
-- refund_payment() settles), IN_PROGRESS, ALREADY_REFUNDED, NOT_REFUNDABLE (pending, or failed
-- without money to return), NOT_FOUND. STARTED carries what the provider call needs. A claim is
-- never released early: one whose caller died, failed or timed out lapses after p_stale_after,
-- which must exceed the longest provider call (a refund the provider made but whose answer was
-- lost must not be asked for again while that call could still be running).
CREATE OR REPLACE FUNCTION public.begin_refund(p_payment uuid, p_stale_after interval)
 RETURNS jsonb
 LANGUAGE plpgsql
AS $function$
DECLARE
  p payments%ROWTYPE;
BEGIN
  SELECT * INTO p FROM payments WHERE id = p_payment FOR UPDATE;
  IF NOT FOUND THEN
    RETURN jsonb_build_object('outcome', 'NOT_FOUND');
  END IF;
  IF p.status = 'REFUNDED' OR p.refunded_at IS NOT NULL THEN
    RETURN jsonb_build_object('outcome', 'ALREADY_REFUNDED', 'status', p.status);
  END IF;
  IF NOT (p.status = 'SUCCEEDED' OR (p.status = 'FAILED' AND p.needs_refund)) THEN
    RETURN jsonb_build_object('outcome', 'NOT_REFUNDABLE', 'status', p.status);
  END IF;
  IF p.refund_started_at IS NOT NULL AND p.refund_started_at > now() - p_stale_after THEN
    RETURN jsonb_build_object('outcome', 'IN_PROGRESS', 'status', p.status);
  END IF;
  UPDATE payments SET refund_started_at = now(), updated_at = now() WHERE id = p.id;
  RETURN jsonb_build_object('outcome', 'STARTED', 'provider', p.provider,
                            'providerRef', p.provider_ref, 'amountCents', p.amount_cents,
                            'currency', p.currency);
END
$function$;
