-- outbox_append() — the current definition (migration 0007; earlier bodies there are history).
-- Edit this file, never a migration: `ticketd migrate` re-applies it when it changes.
--
-- outbox_append: one outbox row in the standard event envelope (outbox_envelope_build). The
-- writer of single outbox rows (C++ infra/outbox::append calls it too; reserve_batch() writes
-- its rows set-based with the same envelope): a NULL or empty key is the aggregate id.
CREATE OR REPLACE FUNCTION public.outbox_append(p_topic text, p_aggregate_type text, p_aggregate_id uuid, p_key text, p_data jsonb, p_correlation_id text, p_actor jsonb)
 RETURNS uuid
 LANGUAGE plpgsql
AS $function$
DECLARE
  v_id uuid := gen_random_uuid();
BEGIN
  INSERT INTO outbox_events (id, aggregate_type, aggregate_id, topic, event_type, message_key,
                             payload, correlation_id)
  VALUES (v_id, p_aggregate_type, p_aggregate_id, p_topic, p_topic,
          coalesce(NULLIF(p_key, ''), p_aggregate_id::text),
          outbox_envelope_build(v_id, p_topic, p_data, p_correlation_id, p_actor),
          NULLIF(p_correlation_id, ''));
  RETURN v_id;
END
$function$;
