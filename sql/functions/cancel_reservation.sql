-- cancel_reservation() — the current definition (migration 0007; earlier bodies there are history).
-- Edit this file, never a migration: `ticketd migrate` re-applies it when it changes.
--
-- cancel_reservation: ACTIVE → CANCELLED with the holds released at once (the caller has
-- authorized the actor). Cancelling a cancelled reservation again is a no-op.
-- Returns {"outcome": CANCELLED | ALREADY_CANCELLED | NOT_ACTIVE | NOT_FOUND, reservation?,
-- seats?: [freed seat ids]}.
CREATE OR REPLACE FUNCTION public.cancel_reservation(p_id uuid, p_correlation_id text, p_actor jsonb)
 RETURNS jsonb
 LANGUAGE plpgsql
AS $function$
DECLARE
  v_status text;
  v_seats  uuid[];
  v_json   jsonb;
BEGIN
  SELECT status INTO v_status FROM reservations WHERE id = p_id FOR UPDATE;
  IF NOT FOUND THEN
    RETURN jsonb_build_object('outcome', 'NOT_FOUND');
  ELSIF v_status = 'CANCELLED' THEN
    RETURN jsonb_build_object('outcome', 'ALREADY_CANCELLED', 'reservation', reservation_json(p_id));
  ELSIF v_status <> 'ACTIVE' THEN
    RETURN jsonb_build_object('outcome', 'NOT_ACTIVE', 'reservation', reservation_json(p_id));
  END IF;
  v_seats := release_reservation_holds(p_id);
  UPDATE reservations SET status = 'CANCELLED', cancelled_at = now(), updated_at = now()
   WHERE id = p_id;
  v_json := reservation_json(p_id);
  PERFORM outbox_append('reservation.cancelled', 'reservation', p_id, NULL,
                        jsonb_build_object('reservation', v_json,
                                           'releasedSeatIds', to_jsonb(v_seats)),
                        p_correlation_id, p_actor);
  RETURN jsonb_build_object('outcome', 'CANCELLED', 'reservation', v_json,
                            'seats', to_jsonb(v_seats));
END
$function$;
