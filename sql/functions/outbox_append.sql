-- outbox_append() — the current definition (migration 0007; earlier bodies there are history).
-- Edit this file, never a migration: `ticketd migrate` re-applies it when it changes.
--
-- outbox_append: one outbox row in the standard event envelope
-- {eventId, type, occurredAt, version, correlationId, actor, data} (README, "Outbox → Kafka"), occurredAt
-- from the database clock. The only writer of outbox rows (C++ infra/outbox::append calls it
-- too), so the envelope has one definition: an empty or NULL correlation id is null, a NULL
-- actor is {}, a NULL or empty key is the aggregate id.
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
          jsonb_build_object('eventId', v_id, 'type', p_topic, 'occurredAt', iso_utc(now()),
                             'version', 1, 'correlationId', NULLIF(p_correlation_id, ''),
                             'actor', coalesce(p_actor, '{}'::jsonb), 'data', p_data),
          NULLIF(p_correlation_id, ''));
  RETURN v_id;
END
$function$;
