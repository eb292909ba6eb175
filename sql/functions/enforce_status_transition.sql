-- enforce_status_transition() — the current definition (migration 0001; earlier bodies there are history).
-- Edit this file, never a migration: `ticketd migrate` re-applies it when it changes.
--
-- Generic state-machine guard.
-- Usage: CREATE TRIGGER ... BEFORE UPDATE OF status ON t FOR EACH ROW
--          WHEN (OLD.status IS DISTINCT FROM NEW.status)
--          EXECUTE FUNCTION enforce_status_transition('A>B', 'B>C');
-- Each argument is one allowed 'FROM>TO' edge. The WHEN clause keeps the trigger from
-- running at all on updates that do not change the status.
CREATE OR REPLACE FUNCTION public.enforce_status_transition()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
  IF NOT ((OLD.status || '>' || NEW.status) = ANY (TG_ARGV)) THEN
    RAISE EXCEPTION 'invalid % status transition % -> %', TG_TABLE_NAME, OLD.status, NEW.status
      USING ERRCODE = 'object_not_in_prerequisite_state',
            CONSTRAINT = TG_TABLE_NAME || '_status_transition',
            TABLE = TG_TABLE_NAME,
            SCHEMA = TG_TABLE_SCHEMA;
  END IF;
  RETURN NEW;
END
$function$;
