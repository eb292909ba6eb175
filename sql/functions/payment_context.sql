-- payment_context() — the current definition (migration 0010; earlier bodies there are history).
-- Edit this file, never a migration: `ticketd migrate` re-applies it when it changes.
--
-- payment_context: what POST /payments needs before it asks a provider for an intent.
-- NOT_FOUND also covers another user's reservation (never reveal it exists).
CREATE OR REPLACE FUNCTION public.payment_context(p_user uuid, p_reservation uuid)
 RETURNS jsonb
 LANGUAGE plpgsql
 STABLE
AS $function$
DECLARE
  r reservations%ROWTYPE;
  v_existing uuid;
BEGIN
  SELECT * INTO r FROM reservations WHERE id = p_reservation AND user_id = p_user;
  IF NOT FOUND THEN
    RETURN jsonb_build_object('outcome', 'NOT_FOUND');
  END IF;
  SELECT id INTO v_existing FROM payments
   WHERE reservation_id = r.id AND status <> 'FAILED';
  IF v_existing IS NOT NULL THEN
    RETURN jsonb_build_object('outcome', 'EXISTING', 'payment', payment_json(v_existing));
  END IF;
  IF r.status <> 'ACTIVE' THEN
    RETURN jsonb_build_object('outcome', 'NOT_ACTIVE', 'status', r.status);
  END IF;
  IF r.expires_at <= now() THEN
    RETURN jsonb_build_object('outcome', 'EXPIRED');
  END IF;
  RETURN jsonb_build_object('outcome', 'OK', 'amountCents', r.total_cents,
                            'currency', r.currency, 'eventId', r.event_id, 'orgId', r.org_id);
END
$function$;
