-- create_payment() — the current definition (migration 0010; earlier bodies there are history).
-- Edit this file, never a migration: `ticketd migrate` re-applies it when it changes.
--
-- create_payment: inserts the PENDING payment of a provider intent, unless the reservation
-- stopped being payable meanwhile or another request created one first (the partial
-- unique index payments_one_open_per_reservation decides the race: the loser gets the
-- winner's payment, outcome EXISTING).
CREATE OR REPLACE FUNCTION public.create_payment(p_id uuid, p_user uuid, p_reservation uuid, p_provider text, p_provider_ref text, p_checkout_url text, p_correlation_id text)
 RETURNS jsonb
 LANGUAGE plpgsql
AS $function$
DECLARE
  r reservations%ROWTYPE;
  v_id uuid;
BEGIN
  -- FOR SHARE: cancel/expiry cannot end the reservation under us; other payers still can.
  SELECT * INTO r FROM reservations WHERE id = p_reservation AND user_id = p_user FOR SHARE;
  IF NOT FOUND THEN
    RETURN jsonb_build_object('outcome', 'NOT_FOUND');
  END IF;
  IF r.status <> 'ACTIVE' OR r.expires_at <= now() THEN
    SELECT id INTO v_id FROM payments WHERE reservation_id = r.id AND status <> 'FAILED';
    IF v_id IS NOT NULL THEN
      RETURN jsonb_build_object('outcome', 'EXISTING', 'payment', payment_json(v_id));
    END IF;
    RETURN jsonb_build_object('outcome',
                              CASE WHEN r.status <> 'ACTIVE' THEN 'NOT_ACTIVE' ELSE 'EXPIRED' END,
                              'status', r.status);
  END IF;
  INSERT INTO payments (id, org_id, event_id, reservation_id, user_id, provider, provider_ref,
                        amount_cents, currency, checkout_url)
  VALUES (p_id, r.org_id, r.event_id, r.id, p_user, p_provider, p_provider_ref, r.total_cents,
          r.currency, p_checkout_url)
  ON CONFLICT (reservation_id) WHERE status <> 'FAILED' DO NOTHING
  RETURNING id INTO v_id;
  IF v_id IS NULL THEN
    SELECT id INTO v_id FROM payments WHERE reservation_id = r.id AND status <> 'FAILED';
    RETURN jsonb_build_object('outcome', 'EXISTING', 'payment', payment_json(v_id));
  END IF;
  RETURN jsonb_build_object('outcome', 'CREATED', 'payment', payment_json(v_id));
END
$function$;
