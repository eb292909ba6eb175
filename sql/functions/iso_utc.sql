-- iso_utc() — the current definition (migration 0007; earlier bodies there are history).
-- Edit this file, never a migration: `ticketd migrate` re-applies it when it changes.
--
-- The wire format of timestamps (ISO-8601 UTC with milliseconds), written once for all SQL:
-- statements use it through TICKETD_SQL_ISO8601 (infra/pg/sql.hpp); C++ has core::iso8601().
CREATE OR REPLACE FUNCTION public.iso_utc(t timestamp with time zone)
 RETURNS text
 LANGUAGE sql
 STABLE PARALLEL SAFE
AS $function$
  SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$function$;
