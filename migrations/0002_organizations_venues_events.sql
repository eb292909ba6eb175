-- 0002: tenancy (organizations, members, API keys), venue layouts, events, ticket types
-- and general-admission capacity slots.
--
-- Tenancy rule used throughout: every tenant-owned row carries org_id, and wherever a row
-- also points at a tenant-owned parent, the foreign key is composite and includes org_id
-- (e.g. events (venue_id, org_id) -> venues (id, org_id)). So the denormalized org_id of
-- any row always equals its parent's, an event can only use a venue of its own
-- organization, and an authorization check on a row's own org_id is as good as a join.
-- Where a composite FK through a parent already pins org_id, no separate
-- "org_id REFERENCES organizations" is added (the parent's FK guarantees it).

-- ---------------------------------------------------------------------------------------
-- organizations
-- ---------------------------------------------------------------------------------------
CREATE TABLE organizations (
  id         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
  name       text        NOT NULL,
  slug       text        NOT NULL,
  -- NULL when created by the system (demo seed, CLI).
  created_by uuid        REFERENCES users (id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT organizations_slug_key UNIQUE (slug),
  -- 3..64 chars of [a-z0-9-], starting and ending alphanumeric (URL-safe, no case games).
  CONSTRAINT organizations_slug_format CHECK (slug ~ '^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$'),
  CONSTRAINT organizations_name_length CHECK (length(name) BETWEEN 1 AND 200)
);
CREATE INDEX organizations_created_by_idx ON organizations (created_by) WHERE created_by IS NOT NULL;

-- ---------------------------------------------------------------------------------------
-- organization_members: membership roles, scoped to one organization.
-- ---------------------------------------------------------------------------------------
CREATE TABLE organization_members (
  org_id     uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  role       text        NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT organization_members_pkey PRIMARY KEY (org_id, user_id),
  -- Only ORG-scope roles; they are also rows of `roles` (seeded in 0005) so their
  -- permissions resolve through role_permissions by name.
  CONSTRAINT organization_members_role_check CHECK (role IN ('ORG_ADMIN', 'ORG_STAFF', 'SUPPORT'))
);
CREATE INDEX organization_members_user_id_idx ON organization_members (user_id);

-- The last ORG_ADMIN of an organization can be neither removed nor demoted (spec: 409).
-- The trigger first updates the organization row, which serializes concurrent membership
-- changes of one organization: under READ COMMITTED the second transaction waits and then
-- counts with a fresh snapshot; under REPEATABLE READ/SERIALIZABLE it gets a
-- serialization failure (40001) and is retried. Without that, two admins demoting each
-- other concurrently would each still see the other and both commit.
-- Deleting the organization itself (cascade) is allowed: the organization row is then
-- already gone and the check is skipped.
-- The constraint trigger is DEFERRABLE INITIALLY IMMEDIATE: errors surface at the
-- statement; a transaction that swaps admins in the "wrong" order can
-- `SET CONSTRAINTS organization_members_last_admin DEFERRED`.
CREATE FUNCTION organization_members_keep_an_admin() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.role = 'ORG_ADMIN' AND NEW.org_id = OLD.org_id THEN
    RETURN NULL;  -- still an admin of the same organization
  END IF;
  UPDATE organizations SET updated_at = now() WHERE id = OLD.org_id;
  IF NOT FOUND THEN
    RETURN NULL;  -- organization deleted in this transaction
  END IF;
  IF NOT EXISTS (SELECT 1 FROM organization_members
                  WHERE org_id = OLD.org_id AND role = 'ORG_ADMIN') THEN
    RAISE EXCEPTION 'organization % would have no ORG_ADMIN left', OLD.org_id
      USING ERRCODE = 'object_not_in_prerequisite_state',
            CONSTRAINT = 'organization_members_last_admin',
            TABLE = 'organization_members',
            SCHEMA = TG_TABLE_SCHEMA;
  END IF;
  RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER organization_members_last_admin
  AFTER UPDATE OF role, org_id OR DELETE ON organization_members
  DEFERRABLE INITIALLY IMMEDIATE
  FOR EACH ROW WHEN (OLD.role = 'ORG_ADMIN')
  EXECUTE FUNCTION organization_members_keep_an_admin();

-- ---------------------------------------------------------------------------------------
-- api_keys: service-to-service credentials bound to one organization.
-- Presented as "<prefix>.<secret>"-style keys: `prefix` is the public lookup part, only a
-- hash of the whole key is stored; the key is shown once at creation.
-- ---------------------------------------------------------------------------------------
CREATE TABLE api_keys (
  id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id       uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  name         text        NOT NULL,
  -- Membership role the key acts with. ORG_ADMIN is deliberately not allowed: a leaked
  -- key must not be able to mint more keys or change members.
  role         text        NOT NULL DEFAULT 'ORG_STAFF',
  prefix       text        NOT NULL,
  key_hash     text        NOT NULL,
  created_by   uuid        REFERENCES users (id) ON DELETE SET NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz,
  revoked_at   timestamptz,
  last_used_at timestamptz,
  CONSTRAINT api_keys_prefix_key UNIQUE (prefix),
  CONSTRAINT api_keys_key_hash_key UNIQUE (key_hash),
  CONSTRAINT api_keys_prefix_format CHECK (prefix ~ '^[A-Za-z0-9_-]{4,32}$'),
  CONSTRAINT api_keys_key_hash_present CHECK (key_hash <> ''),
  CONSTRAINT api_keys_name_length CHECK (length(name) BETWEEN 1 AND 100),
  CONSTRAINT api_keys_role_check CHECK (role IN ('ORG_STAFF', 'SUPPORT'))
);
CREATE INDEX api_keys_org_id_idx ON api_keys (org_id, created_at);
CREATE INDEX api_keys_created_by_idx ON api_keys (created_by) WHERE created_by IS NOT NULL;

-- ---------------------------------------------------------------------------------------
-- Venue layout: venues > venue_sections > venue_rows > venue_seats.
-- A layout of 50,000 seats is bulk-inserted in one call, so venue_seats has only the
-- indexes its constraints need.
-- ---------------------------------------------------------------------------------------
CREATE TABLE venues (
  id         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id     uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  name       text        NOT NULL,
  address    text,
  city       text,
  country    text,
  -- IANA zone name (validated by the application).
  timezone   text,
  created_by uuid        REFERENCES users (id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT venues_name_length CHECK (length(name) BETWEEN 1 AND 200),
  CONSTRAINT venues_address_length CHECK (address IS NULL OR length(address) <= 500),
  CONSTRAINT venues_city_length CHECK (city IS NULL OR length(city) <= 200),
  CONSTRAINT venues_country_length CHECK (country IS NULL OR length(country) <= 100),
  CONSTRAINT venues_timezone_length CHECK (timezone IS NULL OR length(timezone) BETWEEN 1 AND 64),
  -- target of composite FKs (tenant consistency)
  CONSTRAINT venues_id_org_key UNIQUE (id, org_id)
);
CREATE INDEX venues_org_id_idx ON venues (org_id, created_at);
CREATE INDEX venues_created_by_idx ON venues (created_by) WHERE created_by IS NOT NULL;

CREATE TABLE venue_sections (
  id         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
  venue_id   uuid        NOT NULL,
  org_id     uuid        NOT NULL,
  name       text        NOT NULL,
  -- Short code used in seat codes 'SECTION-ROW-SEAT'; derived from the name by the
  -- application when the client gives none.
  code       text        NOT NULL,
  -- Display order (the application assigns the position in the request when absent).
  sort_order int         NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT venue_sections_venue_fkey FOREIGN KEY (venue_id, org_id)
    REFERENCES venues (id, org_id) ON DELETE CASCADE,
  CONSTRAINT venue_sections_venue_code_key UNIQUE (venue_id, code),
  CONSTRAINT venue_sections_name_length CHECK (length(name) BETWEEN 1 AND 100),
  CONSTRAINT venue_sections_code_length CHECK (length(code) BETWEEN 1 AND 32),
  -- target of the rows' composite FK
  CONSTRAINT venue_sections_id_venue_org_key UNIQUE (id, venue_id, org_id)
);
-- (venue_id, code) already indexes the venue FK.

CREATE TABLE venue_rows (
  id         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
  section_id uuid        NOT NULL,
  venue_id   uuid        NOT NULL,
  org_id     uuid        NOT NULL,
  name       text        NOT NULL,
  sort_order int         NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  -- The row's venue/org are the section's: denormalized copies cannot drift.
  CONSTRAINT venue_rows_section_fkey FOREIGN KEY (section_id, venue_id, org_id)
    REFERENCES venue_sections (id, venue_id, org_id) ON DELETE CASCADE,
  CONSTRAINT venue_rows_section_name_key UNIQUE (section_id, name),
  CONSTRAINT venue_rows_name_length CHECK (length(name) BETWEEN 1 AND 32),
  -- target of the seats' composite FK
  CONSTRAINT venue_rows_id_section_venue_org_key UNIQUE (id, section_id, venue_id, org_id)
);
-- (section_id, name) already indexes the section FK.

CREATE TABLE venue_seats (
  id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
  row_id      uuid        NOT NULL,
  section_id  uuid        NOT NULL,
  venue_id    uuid        NOT NULL,
  org_id      uuid        NOT NULL,
  -- integer so that seat 2 sorts before seat 10 (the reference sorted strings)
  seat_number int         NOT NULL,
  -- what is printed on the seat, when it differs from the number
  label       text,
  -- stable human-readable identity 'SECTION-ROW-SEAT', unique within the venue
  seat_code   text        NOT NULL,
  x           double precision,
  y           double precision,
  created_at  timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT venue_seats_row_fkey FOREIGN KEY (row_id, section_id, venue_id, org_id)
    REFERENCES venue_rows (id, section_id, venue_id, org_id) ON DELETE CASCADE,
  CONSTRAINT venue_seats_venue_seat_code_key UNIQUE (venue_id, seat_code),
  -- also the index of the row FK (leading row_id)
  CONSTRAINT venue_seats_row_seat_number_key UNIQUE (row_id, seat_number),
  CONSTRAINT venue_seats_seat_number_positive CHECK (seat_number > 0),
  CONSTRAINT venue_seats_seat_code_length CHECK (length(seat_code) BETWEEN 1 AND 100),
  CONSTRAINT venue_seats_label_length CHECK (label IS NULL OR length(label) BETWEEN 1 AND 32),
  -- Target of event_seats' composite FK: an event seat's venue/section/row copies always
  -- match the venue seat they were made from.
  CONSTRAINT venue_seats_id_venue_section_row_key UNIQUE (id, venue_id, section_id, row_id)
);
-- (venue_id, seat_code) indexes the venue side; (row_id, seat_number) the row FK.

-- ---------------------------------------------------------------------------------------
-- events
-- ---------------------------------------------------------------------------------------
CREATE TABLE events (
  id                uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id            uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  venue_id          uuid        NOT NULL,
  title             text        NOT NULL,
  description       text,
  status            text        NOT NULL DEFAULT 'DRAFT',
  starts_at         timestamptz NOT NULL,
  ends_at           timestamptz,
  sales_start_at    timestamptz,
  sales_end_at      timestamptz,
  currency          char(3)     NOT NULL DEFAULT 'USD',
  -- Bumped (inventory_version = inventory_version + 1) in the same statement/transaction
  -- as any change to this event's seats or ticket types, so cached seat-map snapshots
  -- can be keyed by (event_id, inventory_version). Note: the bump takes this row's lock,
  -- so it serializes the transactions that do it per event until they commit.
  inventory_version bigint      NOT NULL DEFAULT 0,
  -- flash-sale mode: reserve requires an admission token (spec §9)
  queue_mode        boolean     NOT NULL DEFAULT false,
  created_by        uuid        REFERENCES users (id) ON DELETE SET NULL,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  published_at      timestamptz,
  cancelled_at      timestamptz,
  -- An event takes place in a venue of its own organization.
  CONSTRAINT events_venue_fkey FOREIGN KEY (venue_id, org_id) REFERENCES venues (id, org_id),
  CONSTRAINT events_status_check CHECK (status IN ('DRAFT', 'PUBLISHED', 'CANCELLED')),
  CONSTRAINT events_title_length CHECK (length(title) BETWEEN 1 AND 200),
  CONSTRAINT events_description_length CHECK (description IS NULL OR length(description) <= 10000),
  CONSTRAINT events_ends_after_start CHECK (ends_at IS NULL OR ends_at > starts_at),
  CONSTRAINT events_sales_window_order CHECK (
    sales_start_at IS NULL OR sales_end_at IS NULL OR sales_end_at > sales_start_at),
  CONSTRAINT events_currency_format CHECK (currency ~ '^[A-Z]{3}$'),
  CONSTRAINT events_inventory_version_nonnegative CHECK (inventory_version >= 0),
  -- DRAFT was never published; PUBLISHED has published_at; CANCELLED has cancelled_at
  -- (and keeps published_at if it had been published).
  CONSTRAINT events_status_timestamps CHECK (
    CASE status
      WHEN 'DRAFT'     THEN published_at IS NULL AND cancelled_at IS NULL
      WHEN 'PUBLISHED' THEN published_at IS NOT NULL AND cancelled_at IS NULL
      WHEN 'CANCELLED' THEN cancelled_at IS NOT NULL
    END),
  -- targets of composite FKs from event-owned tables
  CONSTRAINT events_id_org_key UNIQUE (id, org_id),
  CONSTRAINT events_id_venue_org_key UNIQUE (id, venue_id, org_id)
);
-- public listing: published events by start time
CREATE INDEX events_published_starts_at_idx ON events (starts_at) WHERE status = 'PUBLISHED';
-- per-organization listing (staff see drafts too); also the org FK index
CREATE INDEX events_org_id_starts_at_idx ON events (org_id, starts_at);
CREATE INDEX events_venue_id_idx ON events (venue_id);
CREATE INDEX events_created_by_idx ON events (created_by) WHERE created_by IS NOT NULL;

CREATE TRIGGER events_status_transition
  BEFORE UPDATE OF status ON events
  FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
  EXECUTE FUNCTION enforce_status_transition(
    'DRAFT>PUBLISHED', 'PUBLISHED>CANCELLED', 'DRAFT>CANCELLED');

-- ---------------------------------------------------------------------------------------
-- event_ticket_types: SEATED types price/type seats (event_seats.ticket_type_id);
-- GA (general admission) types have a capacity, split over event_ticket_type_slots.
-- ---------------------------------------------------------------------------------------
CREATE TABLE event_ticket_types (
  id             uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
  event_id       uuid        NOT NULL,
  org_id         uuid        NOT NULL,
  name           text        NOT NULL,
  code           text,
  kind           text        NOT NULL,
  price_cents    bigint      NOT NULL,
  fees_cents     bigint      NOT NULL DEFAULT 0,
  total_capacity int,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT event_ticket_types_event_fkey FOREIGN KEY (event_id, org_id)
    REFERENCES events (id, org_id) ON DELETE CASCADE,
  -- NULL codes are distinct, so only given codes must be unique within the event.
  CONSTRAINT event_ticket_types_event_code_key UNIQUE (event_id, code),
  CONSTRAINT event_ticket_types_kind_check CHECK (kind IN ('SEATED', 'GA')),
  CONSTRAINT event_ticket_types_name_length CHECK (length(name) BETWEEN 1 AND 100),
  CONSTRAINT event_ticket_types_code_format CHECK (code IS NULL OR code ~ '^[A-Za-z0-9_-]{1,32}$'),
  CONSTRAINT event_ticket_types_price_nonnegative CHECK (price_cents >= 0),
  CONSTRAINT event_ticket_types_fees_nonnegative CHECK (fees_cents >= 0),
  -- capacity exists (and is positive) exactly for general admission
  CONSTRAINT event_ticket_types_capacity_iff_ga CHECK (
    CASE kind
      WHEN 'GA'     THEN total_capacity IS NOT NULL AND total_capacity > 0
      WHEN 'SEATED' THEN total_capacity IS NULL
    END),
  -- target of composite FKs (slots, seats, items, tickets)
  CONSTRAINT event_ticket_types_id_event_org_key UNIQUE (id, event_id, org_id)
);
-- (event_id, code) indexes the event FK.

-- ---------------------------------------------------------------------------------------
-- event_ticket_type_slots: GA capacity split into N independent counters so concurrent
-- buyers of one ticket type update different rows instead of queueing on one.
-- Per slot: reserved + sold <= capacity (CHECK, enforced on every counter update, so a
-- conditional `UPDATE ... SET reserved = reserved + $q WHERE ...` can never oversell).
-- Per type: sum(slot capacity) = total_capacity (deferred constraint trigger below).
-- Together: reserved + sold over all slots <= total_capacity (invariant 2).
-- The hot counters (reserved, sold) are not indexed, so their updates are HOT; the low
-- fillfactor leaves room on the page for the new row versions.
-- ---------------------------------------------------------------------------------------
CREATE TABLE event_ticket_type_slots (
  ticket_type_id uuid     NOT NULL,
  slot           smallint NOT NULL,
  org_id         uuid     NOT NULL,
  event_id       uuid     NOT NULL,
  capacity       int      NOT NULL,
  reserved       int      NOT NULL DEFAULT 0,
  sold           int      NOT NULL DEFAULT 0,
  CONSTRAINT event_ticket_type_slots_pkey PRIMARY KEY (ticket_type_id, slot),
  CONSTRAINT event_ticket_type_slots_ticket_type_fkey FOREIGN KEY (ticket_type_id, event_id, org_id)
    REFERENCES event_ticket_types (id, event_id, org_id) ON DELETE CASCADE,
  CONSTRAINT event_ticket_type_slots_slot_range CHECK (slot BETWEEN 0 AND 255),
  CONSTRAINT event_ticket_type_slots_capacity_nonnegative CHECK (capacity >= 0),
  CONSTRAINT event_ticket_type_slots_counts_within_capacity CHECK (
    reserved >= 0 AND sold >= 0 AND reserved + sold <= capacity)
) WITH (fillfactor = 50);
-- The primary key (leading ticket_type_id) indexes the ticket-type FK.

-- Keeps sum(slots.capacity) = event_ticket_types.total_capacity for GA types, and no
-- slots at all for SEATED types. DEFERRABLE INITIALLY DEFERRED: checked at COMMIT, so a
-- transaction may insert the type and then its slots, or change total_capacity and
-- rebalance slots, in any order. Errors therefore surface at COMMIT (SQLSTATE 23514,
-- constraint event_ticket_type_slots_capacity_sum).
-- Fires only when capacity/ownership changes, never on reserved/sold updates, so the
-- reservation hot path pays nothing. No lock is needed: the invariant is linear, so two
-- concurrent transactions that each keep it (from a consistent committed state) keep it
-- together.
CREATE FUNCTION event_ticket_type_slots_check_sum() RETURNS trigger
LANGUAGE plpgsql AS $$
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
$$;

CREATE CONSTRAINT TRIGGER event_ticket_type_slots_capacity_sum
  AFTER INSERT OR DELETE OR UPDATE OF capacity, ticket_type_id ON event_ticket_type_slots
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION event_ticket_type_slots_check_sum();

CREATE CONSTRAINT TRIGGER event_ticket_types_capacity_sum
  AFTER INSERT OR UPDATE OF total_capacity, kind ON event_ticket_types
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION event_ticket_type_slots_check_sum();
