-- expire_reservations() — the current definition (migration 0007, last redefined in 0009; earlier bodies there are history).
-- Edit this file, never a migration: `ticketd migrate` re-applies it when it changes.
--
-- The expiry worker's batch: claims up to p_batch lapsed ACTIVE reservations with
-- FOR UPDATE SKIP LOCKED (safe with many instances), marks them EXPIRED, releases their seats and
-- GA units (release_reservation_holds) and writes reservation.expired for each; returns
-- [{reservationId, eventId, seats}] for the realtime updates.
CREATE OR REPLACE FUNCTION public.expire_reservations(p_batch integer, p_correlation_id text)
 RETURNS jsonb
 LANGUAGE plpgsql
AS $function$
DECLARE
  r        record;
  v_ids    uuid[];
  v_locked int;
  v_seats  uuid[];
  v_out    jsonb := '[]'::jsonb;
BEGIN
  SELECT array_agg(id ORDER BY expires_at) INTO v_ids FROM (
    SELECT id, expires_at FROM reservations
     WHERE status = 'ACTIVE' AND expires_at <= now()
     ORDER BY expires_at
     LIMIT p_batch
     FOR UPDATE SKIP LOCKED) due;
  IF v_ids IS NULL THEN
    RETURN v_out;
  END IF;
  -- The whole batch's GA slots, in the global order, before any of them is decremented.
  SELECT count(*) INTO v_locked FROM (
    SELECT 1 FROM event_ticket_type_slots sl
     WHERE (sl.ticket_type_id, sl.slot) IN (SELECT ticket_type_id, slot FROM reservation_items
                                             WHERE reservation_id = ANY(v_ids) AND slot IS NOT NULL)
     ORDER BY sl.ticket_type_id, sl.slot
     FOR UPDATE) ordered;
  FOR r IN SELECT id, event_id FROM reservations WHERE id = ANY(v_ids) ORDER BY expires_at LOOP
    v_seats := release_reservation_holds(r.id);
    UPDATE reservations SET status = 'EXPIRED', expired_at = now(), updated_at = now()
     WHERE id = r.id;
    PERFORM outbox_append('reservation.expired', 'reservation', r.id, NULL,
                          jsonb_build_object('reservation', reservation_json(r.id),
                                             'releasedSeatIds', to_jsonb(v_seats)),
                          p_correlation_id, jsonb_build_object('system', 'reservation_expiry'));
    v_out := v_out || jsonb_build_object('reservationId', r.id, 'eventId', r.event_id,
                                         'seats', to_jsonb(v_seats));
  END LOOP;
  RETURN v_out;
END
$function$;
