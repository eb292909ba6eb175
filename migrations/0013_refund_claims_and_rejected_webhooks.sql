-- 0013: two holes a hostile caller could use (issue #12).
--
-- 1. Double refunds. Two concurrent POST /payments/:id/refund both read SUCCEEDED, both asked the
--    provider to return the money, and only then did refund_payment() serialize them. A refund
--    now claims the payment first: begin_refund() takes the row lock and stamps
--    refund_started_at, so exactly one caller reaches the provider; the others see the claim
--    and answer 409 REFUND_IN_PROGRESS. refund_payment() then settles as before. A claim whose
--    caller died between the provider and the settlement is taken over after p_stale_after
--    (providers treat a repeated refund of one charge as one, so the next attempt completes
--    it); abort_refund() drops the claim at once when the provider refused.
--
-- 2. Rejected webhooks filling the database. A request with a missing or bad signature is kept
--    for forensics as a short prefix of its body (the application cuts it) with the size it
--    had; the purge job deletes such rows after PAYMENT_WEBHOOK_REJECTED_RETENTION_HOURS,
--    reading the partial index below instead of the whole table.

ALTER TABLE payments ADD COLUMN refund_started_at timestamptz;

ALTER TABLE payment_webhook_events ADD COLUMN raw_body_bytes integer;
COMMENT ON COLUMN payment_webhook_events.raw_body_bytes IS
  'size of the body as received; raw_body holds only a prefix of rejected (unsigned) requests';

CREATE INDEX payment_webhook_events_rejected_received_at_idx
  ON payment_webhook_events (received_at) WHERE status = 'REJECTED';

-- Outcomes: STARTED (the caller owns the refund now and must call the provider, then
-- refund_payment or abort_refund), IN_PROGRESS, ALREADY_REFUNDED, NOT_REFUNDABLE (pending, or
-- failed without money to return), NOT_FOUND. STARTED carries what the provider call needs.
CREATE FUNCTION begin_refund(p_payment uuid, p_stale_after interval) RETURNS jsonb
LANGUAGE plpgsql AS $$
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
$$;

CREATE FUNCTION abort_refund(p_payment uuid) RETURNS void
LANGUAGE sql AS $$
  UPDATE payments SET refund_started_at = NULL, updated_at = now()
   WHERE id = p_payment AND refunded_at IS NULL;
$$;
