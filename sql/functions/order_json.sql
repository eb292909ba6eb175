-- order_json() — the current definition (migration 0010, last redefined in 0012; earlier bodies there are history).
-- Edit this file, never a migration: `ticketd migrate` re-applies it when it changes.
--
-- The wire shape of an order (GET /orders/:id and the ticket.issued event). PL/pgSQL so
-- its plan is kept for the session (a LANGUAGE sql function that reads tables is re-planned on
-- every call).
CREATE OR REPLACE FUNCTION public.order_json(p_id uuid)
 RETURNS jsonb
 LANGUAGE plpgsql
 STABLE
AS $function$
BEGIN
  RETURN (
    SELECT jsonb_build_object(
      'id', o.id, 'eventId', o.event_id, 'orgId', o.org_id, 'userId', o.user_id,
      'reservationId', o.reservation_id, 'paymentId', o.payment_id, 'status', o.status,
      'totalCents', o.total_cents, 'currency', o.currency, 'createdAt', iso_utc(o.created_at),
      'refundedAt', iso_utc(o.refunded_at),
      'items', coalesce((
        SELECT jsonb_agg(jsonb_build_object(
                 'id', i.id, 'kind', CASE WHEN i.event_seat_id IS NULL THEN 'GA' ELSE 'SEAT' END,
                 'eventSeatId', i.event_seat_id, 'seatCode', s.seat_code,
                 'ticketTypeId', i.ticket_type_id, 'quantity', i.quantity,
                 'unitPriceCents', i.unit_price_cents, 'unitFeesCents', i.unit_fees_cents)
               ORDER BY s.section_sort, s.row_sort, s.seat_number, i.ticket_type_id)
        FROM order_items i LEFT JOIN event_seats s ON s.id = i.event_seat_id
        WHERE i.order_id = o.id), '[]'::jsonb),
      'ticketIds', coalesce((SELECT jsonb_agg(t.id ORDER BY t.issued_at, t.id)
                               FROM tickets t WHERE t.order_id = o.id), '[]'::jsonb))
    FROM orders o WHERE o.id = p_id);
END
$function$;
