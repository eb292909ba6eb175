-- reserve_quietly() — the current definition (migration 0012; earlier bodies there are history).
-- Edit this file, never a migration: `ticketd migrate` re-applies it when it changes.
--
-- reserve() without the outbox NOTIFY, for instances that run their own outbox publisher and
-- wake it in-process after the commit: NOTIFY holds a database-wide lock from commit until the
-- commit record is flushed, so notifying commits queue behind each other's fsync.
CREATE OR REPLACE FUNCTION public.reserve_quietly(p_user uuid, p_event uuid, p_key text, p_hash text, p_seats uuid[], p_ga_types uuid[], p_ga_quantities integer[], p_ttl_seconds integer, p_max_active integer, p_lock_timeout_ms integer, p_correlation_id text, OUT o_outcome text, OUT o_reservation jsonb, OUT o_seats jsonb, OUT o_detail jsonb)
 RETURNS record
 LANGUAGE plpgsql
AS $function$
BEGIN
  -- Local to this transaction: read by the outbox_events trigger (migration 0004).
  PERFORM set_config('ticketd.outbox_notify', 'off', true);
  SELECT r.o_outcome, r.o_reservation, r.o_seats, r.o_detail
    INTO o_outcome, o_reservation, o_seats, o_detail
    FROM reserve(p_user, p_event, p_key, p_hash, p_seats, p_ga_types, p_ga_quantities,
                 p_ttl_seconds, p_max_active, p_lock_timeout_ms, p_correlation_id) r;
END
$function$;
