-- organization_members_keep_an_admin() — the current definition (migration 0002; earlier bodies there are history).
-- Edit this file, never a migration: `ticketd migrate` re-applies it when it changes.
--
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
CREATE OR REPLACE FUNCTION public.organization_members_keep_an_admin()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
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
$function$;
