-- 0013: two holes a hostile caller could use (issue #12).
--
-- 1. Double refunds. Two concurrent POST /payments/:id/refund both read SUCCEEDED, both asked the
--    provider to return the money, and only then did refund_payment() serialize them. A refund
--    now claims the payment first: begin_refund() takes the row lock and stamps
--    refund_started_at, so exactly one caller reaches the provider; the others see the claim
--    and answer 409 REFUND_IN_PROGRESS. refund_payment() then settles as before. A claim whose
--    caller died, failed or timed out before settling is taken over after p_stale_after
--    (providers treat a repeated refund of one charge as one, so the next attempt completes
--    it). The functions live in sql/functions (begin_refund.sql).
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
