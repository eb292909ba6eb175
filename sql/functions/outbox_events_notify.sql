-- outbox_events_notify() — the current definition (migration 0004; earlier bodies there are history).
-- Edit this file, never a migration: `ticketd migrate` re-applies it when it changes.
--
-- Wake the publisher(s) (LISTEN outbox_events) as soon as a transaction that wrote outbox
-- rows commits; notifications are delivered only on commit. Statement-level, so a batch
-- insert notifies once (and identical payloads are folded per transaction anyway).
-- Cost to know about: PostgreSQL serializes the commits of all transactions that issued
-- NOTIFY (a global lock held through the commit record flush). If that shows up in
-- benchmarks, a session can opt out with `SET ticketd.outbox_notify = off` (the
-- publisher's polling fallback then picks the rows up) and wake a local publisher
-- in-process instead.
CREATE OR REPLACE FUNCTION public.outbox_events_notify()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
  IF coalesce(current_setting('ticketd.outbox_notify', true), '') <> 'off' THEN
    PERFORM pg_notify('outbox_events', '');
  END IF;
  RETURN NULL;
END
$function$;
