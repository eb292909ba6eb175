-- reservation_json() — the current definition (migration 0007, last redefined in 0008; earlier bodies there are history).
-- Edit this file, never a migration: `ticketd migrate` re-applies it when it changes.
--
-- A reservation read back from the tables (GET, cancel, expiry), in the one wire shape of
-- reservation_json_build().
CREATE OR REPLACE FUNCTION public.reservation_json(p_id uuid)
 RETURNS jsonb
 LANGUAGE plpgsql
 STABLE
AS $function$
BEGIN
  RETURN (
    SELECT reservation_json_build(
      r.id, r.event_id, r.org_id, r.user_id, r.status, r.expires_at, r.total_cents, r.currency,
      r.idempotency_key, r.created_at, r.confirmed_at, r.cancelled_at, r.expired_at,
      (SELECT jsonb_agg(reservation_item_json_build(i.id, i.event_seat_id, s.seat_code,
                                                    i.ticket_type_id, i.quantity,
                                                    i.unit_price_cents, i.unit_fees_cents)
                        ORDER BY s.section_sort, s.row_sort, s.seat_number, i.ticket_type_id,
                                 i.slot)
         FROM reservation_items i LEFT JOIN event_seats s ON s.id = i.event_seat_id
        WHERE i.reservation_id = r.id))
    FROM reservations r WHERE r.id = p_id);
END
$function$;
