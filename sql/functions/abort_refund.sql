-- abort_refund() — the current definition (migration 0013; earlier bodies there are history).
-- Edit this file, never a migration: `ticketd migrate` re-applies it when it changes.
--
-- Drops an unsettled refund claim (begin_refund) when the provider refused, so the admin
-- can retry at once instead of waiting for the claim to lapse.
CREATE OR REPLACE FUNCTION public.abort_refund(p_payment uuid)
 RETURNS void
 LANGUAGE sql
AS $function$
  UPDATE payments SET refund_started_at = NULL, updated_at = now()
   WHERE id = p_payment AND refunded_at IS NULL;
$function$;
