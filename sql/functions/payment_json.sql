-- payment_json() — the current definition (migration 0010, last redefined in 0012; earlier bodies there are history).
-- Edit this file, never a migration: `ticketd migrate` re-applies it when it changes.
--
-- The wire shape of a payment (every payments answer and event). PL/pgSQL for the reason
-- order_json() gives.
CREATE OR REPLACE FUNCTION public.payment_json(p_id uuid)
 RETURNS jsonb
 LANGUAGE plpgsql
 STABLE
AS $function$
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
$function$;
