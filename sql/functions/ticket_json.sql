-- ticket_json() — the current definition (migration 0010, last redefined in 0012; earlier bodies there are history).
-- Edit this file, never a migration: `ticketd migrate` re-applies it when it changes.
--
-- The wire shape of a ticket. PL/pgSQL for the reason order_json() gives.
CREATE OR REPLACE FUNCTION public.ticket_json(p_id uuid)
 RETURNS jsonb
 LANGUAGE plpgsql
 STABLE
AS $function$
BEGIN
  RETURN (
    SELECT jsonb_build_object(
      'id', t.id, 'code', t.code, 'status', t.status, 'eventId', t.event_id, 'orgId', t.org_id,
      'orderId', t.order_id, 'userId', t.user_id, 'ticketTypeId', t.ticket_type_id,
      'seat', CASE WHEN s.id IS NULL THEN NULL ELSE jsonb_build_object(
                'id', s.id, 'seatCode', s.seat_code, 'seatNo', s.seat_number, 'label', s.label,
                'section', vs.name, 'row', vr.name) END,
      'issuedAt', iso_utc(t.issued_at), 'checkedInAt', iso_utc(t.checked_in_at),
      'refundedAt', iso_utc(t.refunded_at), 'voidedAt', iso_utc(t.voided_at))
    FROM tickets t
    LEFT JOIN event_seats s ON s.id = t.event_seat_id
    LEFT JOIN venue_sections vs ON vs.id = s.section_id
    LEFT JOIN venue_rows vr ON vr.id = s.row_id
    WHERE t.id = p_id);
END
$function$;
