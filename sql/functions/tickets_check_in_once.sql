-- tickets_check_in_once() — the current definition (migration 0003; earlier bodies there are history).
-- Edit this file, never a migration: `ticketd migrate` re-applies it when it changes.
--
-- Check-in is a one-time timestamp on an ISSUED ticket: the first scan wins and is never
-- overwritten or cleared. The check-in endpoint uses
--   UPDATE tickets SET checked_in_at = now() WHERE code = $1 AND event_id = $2
--      AND status = 'ISSUED' AND checked_in_at IS NULL RETURNING ...
-- and reads the first scan's time when no row was updated; this trigger is the backstop.
CREATE OR REPLACE FUNCTION public.tickets_check_in_once()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
  IF OLD.checked_in_at IS NOT NULL OR OLD.status <> 'ISSUED' OR NEW.status <> 'ISSUED' THEN
    RAISE EXCEPTION 'ticket % cannot be checked in (status %, checked in at %)',
        OLD.id, OLD.status, OLD.checked_in_at
      USING ERRCODE = 'object_not_in_prerequisite_state',
            CONSTRAINT = 'tickets_check_in_once',
            TABLE = 'tickets',
            SCHEMA = TG_TABLE_SCHEMA;
  END IF;
  RETURN NEW;
END
$function$;
