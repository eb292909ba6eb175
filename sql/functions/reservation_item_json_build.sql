-- reservation_item_json_build() — defined only here (no migration has it).
-- Edit this file, never a migration: `ticketd migrate` re-applies it when it changes.
--
-- The wire shape of one reservation item, written once (see reservation_json_build): a seat
-- when p_seat is set (kind SEAT), otherwise general admission (kind GA).
CREATE OR REPLACE FUNCTION public.reservation_item_json_build(p_id uuid, p_seat uuid, p_seat_code text, p_ticket_type uuid, p_quantity integer, p_unit_price_cents bigint, p_unit_fees_cents bigint)
 RETURNS jsonb
 LANGUAGE sql
 STABLE PARALLEL SAFE
AS $function$
  SELECT jsonb_build_object(
    'id', p_id, 'kind', CASE WHEN p_seat IS NULL THEN 'GA' ELSE 'SEAT' END,
    'eventSeatId', p_seat, 'seatCode', p_seat_code, 'ticketTypeId', p_ticket_type,
    'quantity', p_quantity, 'unitPriceCents', p_unit_price_cents,
    'unitFeesCents', p_unit_fees_cents)
$function$;
