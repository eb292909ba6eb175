-- 0001: extensions, shared helper functions, identity and access management.
--
-- Conventions for every migration in this folder:
--   * snake_case; uuid primary keys DEFAULT gen_random_uuid(); timestamptz everywhere.
--   * enum-like columns are text + CHECK (not PG enum types) so a later migration can
--     extend them with a plain ALTER TABLE ... DROP/ADD CONSTRAINT.
--   * money is bigint minor units (cents) + currency char(3).
--   * constraints carry explicit names: the application maps SQLSTATE + constraint name
--     to machine error codes (e.g. users_email_key -> 409 EMAIL_TAKEN).
--   * updated_at is set by the application (`updated_at = now()` in each UPDATE); there
--     are deliberately no updated_at triggers, which would cost a PL/pgSQL call per row
--     on the hot seat-update path.
--   * invalid state transitions caught by triggers raise SQLSTATE 55000
--     (object_not_in_prerequisite_state): map it to 409 conflict. They are a safety net;
--     the application performs transitions with conditional UPDATE ... WHERE status = ...

-- gen_random_uuid() is in core since PostgreSQL 13; pgcrypto is kept for digest()/hmac()
-- in ad-hoc SQL. Both are normally created beforehand by a superuser (scripts/services);
-- IF NOT EXISTS then returns before any privilege check, so a non-superuser app role works.
CREATE EXTENSION IF NOT EXISTS pgcrypto;
CREATE EXTENSION IF NOT EXISTS citext;

-- ---------------------------------------------------------------------------------------
-- Generic state-machine guard.
-- Usage: CREATE TRIGGER ... BEFORE UPDATE OF status ON t FOR EACH ROW
--          WHEN (OLD.status IS DISTINCT FROM NEW.status)
--          EXECUTE FUNCTION enforce_status_transition('A>B', 'B>C');
-- Each argument is one allowed 'FROM>TO' edge. The WHEN clause keeps the trigger from
-- running at all on updates that do not change the status.
-- ---------------------------------------------------------------------------------------
CREATE FUNCTION enforce_status_transition() RETURNS trigger
LANGUAGE plpgsql AS $$
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
$$;

-- ---------------------------------------------------------------------------------------
-- users
-- ---------------------------------------------------------------------------------------
CREATE TABLE users (
  id            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
  -- citext: uniqueness and lookups are case-insensitive even if a caller forgets to
  -- lowercase (the API lowercases anyway).
  email         citext      NOT NULL,
  password_hash text        NOT NULL,
  display_name  text,
  status        text        NOT NULL DEFAULT 'ACTIVE',
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT users_email_key UNIQUE (email),
  -- 254 is the longest address that fits in an SMTP path; the pattern is a sanity check
  -- (one @, no whitespace, a dot in the domain), real validation is the app's job.
  CONSTRAINT users_email_format CHECK (
    length(email::text) <= 254
    AND email::text ~ '^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$'),
  CONSTRAINT users_password_hash_present CHECK (password_hash <> ''),
  CONSTRAINT users_display_name_length CHECK (
    display_name IS NULL OR length(display_name) BETWEEN 1 AND 200),
  CONSTRAINT users_status_check CHECK (status IN ('ACTIVE', 'DISABLED'))
);

-- ---------------------------------------------------------------------------------------
-- roles, permissions
-- ---------------------------------------------------------------------------------------
CREATE TABLE roles (
  id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
  name        text        NOT NULL,
  -- GLOBAL roles are granted to a user (user_roles); ORG roles are the membership roles
  -- of organization_members / api_keys and are never granted globally.
  scope       text        NOT NULL,
  description text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT roles_name_key UNIQUE (name),
  CONSTRAINT roles_name_format CHECK (name ~ '^[A-Z][A-Z0-9_]{1,63}$'),
  CONSTRAINT roles_scope_check CHECK (scope IN ('GLOBAL', 'ORG')),
  -- Target of the composite FK from user_roles: lets the database check the scope of a
  -- granted role without a trigger.
  CONSTRAINT roles_id_scope_key UNIQUE (id, scope)
);

CREATE TABLE permissions (
  id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
  code        text        NOT NULL,
  description text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT permissions_code_key UNIQUE (code),
  -- 'resource:action', e.g. 'events:write'
  CONSTRAINT permissions_code_format CHECK (code ~ '^[a-z][a-z_]*:[a-z][a-z_]*$')
);

CREATE TABLE role_permissions (
  role_id       uuid NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
  permission_id uuid NOT NULL REFERENCES permissions (id) ON DELETE CASCADE,
  CONSTRAINT role_permissions_pkey PRIMARY KEY (role_id, permission_id)
);
CREATE INDEX role_permissions_permission_id_idx ON role_permissions (permission_id);

-- Global role grants (USER, SUPER_ADMIN). Membership roles live in organization_members.
CREATE TABLE user_roles (
  user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  role_id    uuid        NOT NULL,
  -- Always 'GLOBAL'; exists only to take part in the composite FK below. Together they
  -- make it impossible to grant an ORG-scope role (ORG_ADMIN, ...) globally: the
  -- reference service's privilege-escalation defect (membership roles leaking into
  -- global roles) cannot be stored. Insert without it (the default fills it in).
  role_scope text        NOT NULL DEFAULT 'GLOBAL',
  granted_at timestamptz NOT NULL DEFAULT now(),
  -- NULL for grants made by the system (registration, CLI, bootstrap).
  granted_by uuid        REFERENCES users (id) ON DELETE SET NULL,
  CONSTRAINT user_roles_pkey PRIMARY KEY (user_id, role_id),
  CONSTRAINT user_roles_role_scope_global CHECK (role_scope = 'GLOBAL'),
  CONSTRAINT user_roles_role_fkey FOREIGN KEY (role_id, role_scope)
    REFERENCES roles (id, scope) ON DELETE CASCADE
);
CREATE INDEX user_roles_role_id_idx ON user_roles (role_id);
CREATE INDEX user_roles_granted_by_idx ON user_roles (granted_by) WHERE granted_by IS NOT NULL;

-- ---------------------------------------------------------------------------------------
-- auth_sessions: one row per issued refresh token. Rotation creates a child row in the
-- same family and marks the parent ROTATED; presenting a ROTATED token again is reuse and
-- revokes the whole family (UPDATE ... WHERE family_id = $1).
-- ---------------------------------------------------------------------------------------
CREATE TABLE auth_sessions (
  id                 uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id            uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  -- id of the first session of the chain (the login); all rotations share it.
  family_id          uuid        NOT NULL,
  -- hash (e.g. hex SHA-256) of the opaque refresh token; the token itself is never stored.
  refresh_token_hash text        NOT NULL,
  parent_id          uuid,
  status             text        NOT NULL DEFAULT 'ACTIVE',
  expires_at         timestamptz NOT NULL,
  created_at         timestamptz NOT NULL DEFAULT now(),
  rotated_at         timestamptz,
  revoked_at         timestamptz,
  revoke_reason      text,
  user_agent         text,
  ip                 inet,
  CONSTRAINT auth_sessions_refresh_token_hash_key UNIQUE (refresh_token_hash),
  CONSTRAINT auth_sessions_refresh_token_hash_present CHECK (refresh_token_hash <> ''),
  CONSTRAINT auth_sessions_status_check CHECK (status IN ('ACTIVE', 'ROTATED', 'REVOKED')),
  -- Timestamps describe the state: ACTIVE has neither; ROTATED has rotated_at; REVOKED has
  -- revoked_at (and keeps rotated_at if it had been rotated before the family was revoked).
  CONSTRAINT auth_sessions_status_timestamps CHECK (
    CASE status
      WHEN 'ACTIVE'  THEN rotated_at IS NULL AND revoked_at IS NULL
      WHEN 'ROTATED' THEN rotated_at IS NOT NULL AND revoked_at IS NULL
      WHEN 'REVOKED' THEN revoked_at IS NOT NULL
    END),
  -- A session can be rotated into at most one child: even if two refresh requests with
  -- the same token race past the application's conditional update, only one child row
  -- can be inserted.
  CONSTRAINT auth_sessions_parent_id_key UNIQUE (parent_id),
  -- Target of the self-FK below.
  CONSTRAINT auth_sessions_id_family_key UNIQUE (id, family_id),
  -- The parent must belong to the same family.
  CONSTRAINT auth_sessions_parent_fkey FOREIGN KEY (parent_id, family_id)
    REFERENCES auth_sessions (id, family_id) ON DELETE SET NULL (parent_id)
);
CREATE INDEX auth_sessions_family_id_idx ON auth_sessions (family_id);
CREATE INDEX auth_sessions_user_id_idx ON auth_sessions (user_id);

CREATE TRIGGER auth_sessions_status_transition
  BEFORE UPDATE OF status ON auth_sessions
  FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
  EXECUTE FUNCTION enforce_status_transition(
    'ACTIVE>ROTATED', 'ACTIVE>REVOKED',
    -- reuse detection revokes the whole family, including already-rotated members
    'ROTATED>REVOKED');
