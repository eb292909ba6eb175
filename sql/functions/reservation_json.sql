-- reservation_json() — the current definition (migration 0007, last redefined in 0008; earlier bodies there are history).
-- Edit this file, never a migration: `ticketd migrate` re-applies it when it changes.
--
-- The wire shape of a reservation read back from the tables (GET, cancel, expiry).
-- reserve() builds the same shape from what it already holds instead of calling this.
CREATE OR REPLACE FUNCTION public.reservation_json(p_id uuid)
 RETURNS jsonb
 LANGUAGE plpgsql
 STABLE
AS $function$
BEGIN
  RETURN (
    SELECT jsonb_build_object(
      'id', r.id, 'eventId', r.event_id, 'orgId', r.org_id, 'userId', r.user_id,
      'status', r.status, 'expiresAt', iso_utc(r.expires_at), 'totalCents', r.total_cents,
      'currency', r.currency, 'idempotencyKey', r.idempotency_key,
      'createdAt', iso_utc(r.created_at), 'confirmedAt', iso_utc(r.confirmed_at),
      'cancelledAt', iso_utc(r.cancelled_at), 'expiredAt', iso_utc(r.expired_at),
      'items', coalesce((
        SELECT jsonb_agg(jsonb_build_object(
                 'id', i.id,
                 'kind', CASE WHEN i.event_seat_id IS NULL THEN 'GA' ELSE 'SEAT' END,
                 'eventSeatId', i.event_seat_id, 'seatCode', s.seat_code,
                 'ticketTypeId', i.ticket_type_id, 'quantity', i.quantity,
                 'unitPriceCents', i.unit_price_cents, 'unitFeesCents', i.unit_fees_cents)
               ORDER BY s.section_sort, s.row_sort, s.seat_number, i.ticket_type_id, i.slot)
        FROM reservation_items i LEFT JOIN event_seats s ON s.id = i.event_seat_id
        WHERE i.reservation_id = r.id), '[]'::jsonb))
    FROM reservations r WHERE r.id = p_id);
END
$function$;
