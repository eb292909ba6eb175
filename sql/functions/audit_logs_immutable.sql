-- audit_logs_immutable() — the current definition (migration 0004; earlier bodies there are history).
-- Edit this file, never a migration: `ticketd migrate` re-applies it when it changes.
--
-- Trigger function: audit rows are never updated or deleted.
CREATE OR REPLACE FUNCTION public.audit_logs_immutable()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
  RAISE EXCEPTION 'audit_logs rows are immutable'
    USING ERRCODE = 'object_not_in_prerequisite_state',
          CONSTRAINT = 'audit_logs_immutable',
          TABLE = 'audit_logs',
          SCHEMA = TG_TABLE_SCHEMA;
END
$function$;
