-- 0004: transactional outbox (Kafka) and audit log.

-- ---------------------------------------------------------------------------------------
-- outbox_events: written in the same transaction as the state change it describes
-- (invariant 4); published to Kafka by workers/outbox_publisher.
-- Publisher protocol:
--   claim:   UPDATE outbox_events SET lease_owner = $me, lease_until = now() + $lease
--             WHERE id IN (SELECT id FROM outbox_events
--                           WHERE status = 'PENDING' AND next_attempt_at <= now()
--                             AND (lease_until IS NULL OR lease_until < now())
--                           ORDER BY next_attempt_at, seq LIMIT $n
--                           FOR UPDATE SKIP LOCKED)
--           RETURNING ...
--   ack:     UPDATE ... SET status = 'SENT', sent_at = now(), lease_owner = NULL, lease_until = NULL
--             WHERE id = $1 AND lease_owner = $me          -- the lease is checked
--   failure: attempts + 1, next_attempt_at = now() + backoff, last_error, lease cleared;
--            status = 'FAILED' after OUTBOX_PUBLISH_MAX_ATTEMPTS.
-- ---------------------------------------------------------------------------------------
CREATE TABLE outbox_events (
  -- also the domain event id (envelope eventId, header x-event-id)
  id              uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
  -- insertion order, a tiebreaker for rows written by one transaction (same created_at)
  seq             bigint      GENERATED ALWAYS AS IDENTITY,
  aggregate_type  text        NOT NULL,
  aggregate_id    uuid        NOT NULL,
  -- Kafka topic, e.g. 'reservation.created'
  topic           text        NOT NULL,
  event_type      text        NOT NULL,
  -- Kafka key: the aggregate id (reservationId, paymentId, orderId, or the event id for
  -- seat.sold and event.*)
  message_key     text        NOT NULL,
  -- the full Kafka value {eventId, type, occurredAt, version, correlationId, actor, data}
  payload         jsonb       NOT NULL,
  -- extra Kafka headers; x-correlation-id, x-event-id, x-event-type derive from columns
  headers         jsonb,
  correlation_id  text,
  status          text        NOT NULL DEFAULT 'PENDING',
  attempts        int         NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  lease_owner     text,
  lease_until     timestamptz,
  last_error      text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  sent_at         timestamptz,
  CONSTRAINT outbox_events_status_check CHECK (status IN ('PENDING', 'SENT', 'FAILED')),
  CONSTRAINT outbox_events_topic_format CHECK (topic ~ '^[A-Za-z0-9._-]{1,249}$'),
  CONSTRAINT outbox_events_event_type_length CHECK (length(event_type) BETWEEN 1 AND 100),
  CONSTRAINT outbox_events_payload_object CHECK (jsonb_typeof(payload) = 'object'),
  CONSTRAINT outbox_events_headers_object CHECK (headers IS NULL OR jsonb_typeof(headers) = 'object'),
  CONSTRAINT outbox_events_attempts_nonnegative CHECK (attempts >= 0),
  CONSTRAINT outbox_events_sent_at CHECK ((status = 'SENT') = (sent_at IS NOT NULL)),
  -- a lease is an owner with a deadline, or nothing
  CONSTRAINT outbox_events_lease_pair CHECK ((lease_owner IS NULL) = (lease_until IS NULL))
);
-- Publisher batches: only PENDING rows are in this index, so it stays small however many
-- SENT rows accumulate (purge them by age with a periodic DELETE).
CREATE INDEX outbox_events_pending_idx ON outbox_events (next_attempt_at, seq) WHERE status = 'PENDING';
-- alerting/inspection of dead letters
CREATE INDEX outbox_events_failed_idx ON outbox_events (created_at) WHERE status = 'FAILED';

-- Wake the publisher(s) (LISTEN outbox_events) as soon as a transaction that wrote outbox
-- rows commits; notifications are delivered only on commit. Statement-level, so a batch
-- insert notifies once (and identical payloads are folded per transaction anyway).
-- Cost to know about: PostgreSQL serializes the commits of all transactions that issued
-- NOTIFY (a global lock held through the commit record flush). If that shows up in
-- benchmarks, a session can opt out with `SET ticketd.outbox_notify = off` (the
-- publisher's polling fallback then picks the rows up) and wake a local publisher
-- in-process instead.
CREATE FUNCTION outbox_events_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF coalesce(current_setting('ticketd.outbox_notify', true), '') <> 'off' THEN
    PERFORM pg_notify('outbox_events', '');
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER outbox_events_notify
  AFTER INSERT ON outbox_events
  FOR EACH STATEMENT EXECUTE FUNCTION outbox_events_notify();

-- ---------------------------------------------------------------------------------------
-- audit_logs: who did what to which resource. Append-only history: rows cannot be
-- changed (trigger below) and deliberately have no foreign keys, so deleting a user, API
-- key or organization neither rewrites nor blocks its history. Old rows may be deleted
-- (retention).
-- A bigint identity key (not uuid): compact, and gives a total insertion order.
-- ---------------------------------------------------------------------------------------
CREATE TABLE audit_logs (
  id               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- NULL for platform-level actions
  org_id           uuid,
  actor_user_id    uuid,
  actor_api_key_id uuid,
  -- e.g. 'member.added', 'event.published', 'payment.refunded'
  action           text        NOT NULL,
  resource_type    text,
  resource_id      text,
  details          jsonb       NOT NULL DEFAULT '{}',
  request_id       text,
  ip               inet,
  created_at       timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT audit_logs_action_length CHECK (length(action) BETWEEN 1 AND 100),
  CONSTRAINT audit_logs_details_object CHECK (jsonb_typeof(details) = 'object')
);
CREATE INDEX audit_logs_org_id_created_at_idx ON audit_logs (org_id, created_at);

CREATE FUNCTION audit_logs_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_logs rows are immutable'
    USING ERRCODE = 'object_not_in_prerequisite_state',
          CONSTRAINT = 'audit_logs_immutable',
          TABLE = 'audit_logs',
          SCHEMA = TG_TABLE_SCHEMA;
END
$$;

CREATE TRIGGER audit_logs_immutable
  BEFORE UPDATE ON audit_logs
  FOR EACH ROW EXECUTE FUNCTION audit_logs_immutable();
