-- release_reservation_holds() — the current definition (migration 0007, last redefined in 0009; earlier bodies there are history).
-- Edit this file, never a migration: `ticketd migrate` re-applies it when it changes.
--
-- Releases lock the GA slots they decrement in one global order (ticket type, slot) before
-- touching them. Two expiry workers (or a worker and a cancel) releasing units of the same slots
-- then queue instead of deadlocking (seen with two workers expiring thousands of GA holds).
CREATE OR REPLACE FUNCTION public.release_reservation_holds(p_id uuid)
 RETURNS uuid[]
 LANGUAGE plpgsql
AS $function$
DECLARE
  v_seats  uuid[];
  v_locked int;
BEGIN
  WITH freed AS (
    UPDATE event_seats s
       SET status = 'AVAILABLE', reservation_id = NULL, reserved_until = NULL,
           version = s.version + 1, updated_at = now()
      FROM reservation_items i
     WHERE i.reservation_id = p_id AND s.id = i.event_seat_id
       AND s.reservation_id = p_id AND s.status = 'RESERVED'
    RETURNING s.id
  )
  SELECT array_agg(id) INTO v_seats FROM freed;

  SELECT count(*) INTO v_locked FROM (
    SELECT 1 FROM event_ticket_type_slots sl
     WHERE (sl.ticket_type_id, sl.slot) IN (SELECT ticket_type_id, slot FROM reservation_items
                                             WHERE reservation_id = p_id AND slot IS NOT NULL)
     ORDER BY sl.ticket_type_id, sl.slot
     FOR UPDATE) ordered;
  UPDATE event_ticket_type_slots sl
     SET reserved = sl.reserved - g.quantity
    FROM (SELECT ticket_type_id, slot, sum(quantity)::int AS quantity
            FROM reservation_items
           WHERE reservation_id = p_id AND slot IS NOT NULL
           GROUP BY ticket_type_id, slot) g
   WHERE sl.ticket_type_id = g.ticket_type_id AND sl.slot = g.slot;
  RETURN coalesce(v_seats, '{}'::uuid[]);
END
$function$;
