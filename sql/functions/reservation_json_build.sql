-- reservation_json_build() — defined only here (no migration has it).
-- Edit this file, never a migration: `ticketd migrate` re-applies it when it changes.
--
-- The wire shape of a reservation, written once: reservation_json() fills it from the tables,
-- reserve() from the values it just wrote (no read back on the hot path). `items` is an array
-- of reservation_item_json_build() objects. A SQL function without STRICT, so the planner
-- inlines it into the caller's expression.
CREATE OR REPLACE FUNCTION public.reservation_json_build(p_id uuid, p_event uuid, p_org uuid, p_user uuid, p_status text, p_expires_at timestamp with time zone, p_total_cents bigint, p_currency text, p_key text, p_created_at timestamp with time zone, p_confirmed_at timestamp with time zone, p_cancelled_at timestamp with time zone, p_expired_at timestamp with time zone, p_items jsonb)
 RETURNS jsonb
 LANGUAGE sql
 STABLE PARALLEL SAFE
AS $function$
  SELECT jsonb_build_object(
    'id', p_id, 'eventId', p_event, 'orgId', p_org, 'userId', p_user,
    'status', p_status, 'expiresAt', iso_utc(p_expires_at), 'totalCents', p_total_cents,
    'currency', p_currency, 'idempotencyKey', p_key,
    'createdAt', iso_utc(p_created_at), 'confirmedAt', iso_utc(p_confirmed_at),
    'cancelledAt', iso_utc(p_cancelled_at), 'expiredAt', iso_utc(p_expired_at),
    'items', coalesce(p_items, '[]'::jsonb))
$function$;
