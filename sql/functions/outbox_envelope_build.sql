-- outbox_envelope_build() — defined only here (no migration has it).
-- Edit this file, never a migration: `ticketd migrate` re-applies it when it changes.
--
-- The standard event envelope {eventId, type, occurredAt, version, correlationId, actor, data}
-- (README, "Outbox → Kafka"), written once: outbox_append() builds its one row with it and
-- reserve_batch() its many. occurredAt comes from the database clock; an empty or NULL
-- correlation id is null, a NULL actor is {}. A SQL function without STRICT, so the planner
-- inlines it into the caller's expression.
CREATE OR REPLACE FUNCTION public.outbox_envelope_build(p_id uuid, p_topic text, p_data jsonb, p_correlation_id text, p_actor jsonb)
 RETURNS jsonb
 LANGUAGE sql
 STABLE PARALLEL SAFE
AS $function$
  SELECT jsonb_build_object('eventId', p_id, 'type', p_topic, 'occurredAt', iso_utc(now()),
                            'version', 1, 'correlationId', NULLIF(p_correlation_id, ''),
                            'actor', coalesce(p_actor, '{}'::jsonb), 'data', p_data)
$function$;
