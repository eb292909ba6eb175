-- event_ticket_type_slots_check_sum() — the current definition (migration 0002; earlier bodies there are history).
-- Edit this file, never a migration: `ticketd migrate` re-applies it when it changes.
--
-- Keeps sum(slots.capacity) = event_ticket_types.total_capacity for GA types, and no
-- slots at all for SEATED types. DEFERRABLE INITIALLY DEFERRED: checked at COMMIT, so a
-- transaction may insert the type and then its slots, or change total_capacity and
-- rebalance slots, in any order. Errors therefore surface at COMMIT (SQLSTATE 23514,
-- constraint event_ticket_type_slots_capacity_sum).
-- Fires only when capacity/ownership changes, never on reserved/sold updates, so the
-- reservation hot path pays nothing. No lock is needed: the invariant is linear, so two
-- concurrent transactions that each keep it (from a consistent committed state) keep it
-- together.
CREATE OR REPLACE FUNCTION public.event_ticket_type_slots_check_sum()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
DECLARE
  type_ids uuid[];
  type_id  uuid;
  t_kind   text;
  t_total  int;
  s_count  int;
  s_sum    bigint;
BEGIN
  IF TG_TABLE_NAME = 'event_ticket_types' THEN
    type_ids := ARRAY[NEW.id];
  ELSIF TG_OP = 'INSERT' THEN
    type_ids := ARRAY[NEW.ticket_type_id];
  ELSIF TG_OP = 'DELETE' THEN
    type_ids := ARRAY[OLD.ticket_type_id];
  ELSE
    type_ids := ARRAY[OLD.ticket_type_id, NEW.ticket_type_id];
  END IF;

  FOREACH type_id IN ARRAY type_ids LOOP
    SELECT kind, total_capacity INTO t_kind, t_total
      FROM event_ticket_types WHERE id = type_id;
    CONTINUE WHEN NOT FOUND;  -- type deleted (its slots cascade)
    SELECT count(*), coalesce(sum(capacity), 0) INTO s_count, s_sum
      FROM event_ticket_type_slots WHERE ticket_type_id = type_id;
    IF (t_kind = 'GA' AND (s_count = 0 OR s_sum <> t_total))
       OR (t_kind <> 'GA' AND s_count > 0) THEN
      RAISE EXCEPTION 'ticket type % (%): % slot(s) with total capacity %, expected %',
          type_id, t_kind, s_count, s_sum, coalesce(t_total::text, 'no slots')
        USING ERRCODE = 'check_violation',
              CONSTRAINT = 'event_ticket_type_slots_capacity_sum',
              TABLE = 'event_ticket_type_slots',
              SCHEMA = TG_TABLE_SCHEMA;
    END IF;
  END LOOP;
  RETURN NULL;
END
$function$;
