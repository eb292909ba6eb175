-- 0005: roles, permissions and their mapping (the reference seeded none, so nobody could
-- register usefully or create the first organization).
--
-- Roles have fixed, well-known ids so code and tests may refer to them, but lookups by
-- name (roles.name / permissions.code) are the intended interface.
--   USER        00000000-0000-4000-8000-000000000001  GLOBAL  given at registration
--   SUPER_ADMIN 00000000-0000-4000-8000-000000000002  GLOBAL  CLI / bootstrap only
--   ORG_ADMIN   00000000-0000-4000-8000-000000000011  ORG     membership role
--   ORG_STAFF   00000000-0000-4000-8000-000000000012  ORG     membership role
--   SUPPORT     00000000-0000-4000-8000-000000000013  ORG     membership role
--
-- Own-resource access (a customer reading their reservations, orders, tickets, payments)
-- is decided by ownership (user_id), not by a permission. The org-scoped permissions
-- below apply within the organization of the membership (or API key) that grants them.

INSERT INTO roles (id, name, scope, description) VALUES
  ('00000000-0000-4000-8000-000000000001', 'USER',        'GLOBAL', 'Customer: browse, reserve, pay, own orders and tickets'),
  ('00000000-0000-4000-8000-000000000002', 'SUPER_ADMIN', 'GLOBAL', 'Platform administrator: everything everywhere'),
  ('00000000-0000-4000-8000-000000000011', 'ORG_ADMIN',   'ORG',    'Organizer admin: staff rights plus members, API keys, refunds, audit'),
  ('00000000-0000-4000-8000-000000000012', 'ORG_STAFF',   'ORG',    'Organizer staff: venues, events, inventory, check-in'),
  ('00000000-0000-4000-8000-000000000013', 'SUPPORT',     'ORG',    'Support: read-only within the organization');

INSERT INTO permissions (code, description) VALUES
  ('orgs:create',         'Create an organization (becoming its first ORG_ADMIN)'),
  ('orgs:read',           'Read the organization'),
  ('orgs:manage',         'Update the organization'),
  ('members:read',        'List the organization''s members'),
  ('members:manage',      'Add, change and remove members'),
  ('api_keys:manage',     'Create, list and revoke the organization''s API keys'),
  ('venues:read',         'Read venues and their layouts'),
  ('venues:write',        'Create and change venues and layouts'),
  ('events:read',         'Read the organization''s events, including drafts'),
  ('events:write',        'Create, update, publish and cancel events'),
  ('inventory:write',     'Sync seats, manage ticket types, block/unblock/re-price seats, queue mode'),
  ('reservations:read',   'Read the organization''s reservations'),
  ('reservations:write',  'Create and cancel own reservations'),
  ('reservations:manage', 'Cancel any reservation of the organization'),
  ('payments:read',       'Read the organization''s payments'),
  ('payments:write',      'Pay for own reservations'),
  ('payments:refund',     'Refund payments of the organization'),
  ('orders:read',         'Read the organization''s orders'),
  ('tickets:read',        'Read the organization''s tickets'),
  ('tickets:checkin',     'Check tickets in'),
  ('stats:read',          'Read event statistics and revenue'),
  ('audit:read',          'Read the organization''s audit log'),
  ('platform:admin',      'Platform administration across all organizations');

-- role -> permission codes; each role lists its full set explicitly (no inheritance to
-- resolve at runtime).
INSERT INTO role_permissions (role_id, permission_id)
SELECT r.id, p.id
  FROM (VALUES
    ('USER',      ARRAY['orgs:create', 'reservations:write', 'payments:write']),
    ('SUPPORT',   ARRAY['orgs:read', 'members:read', 'venues:read', 'events:read',
                        'reservations:read', 'payments:read', 'orders:read', 'tickets:read',
                        'stats:read']),
    ('ORG_STAFF', ARRAY['orgs:read', 'members:read', 'venues:read', 'events:read',
                        'reservations:read', 'payments:read', 'orders:read', 'tickets:read',
                        'stats:read',
                        'venues:write', 'events:write', 'inventory:write', 'tickets:checkin',
                        'reservations:manage']),
    ('ORG_ADMIN', ARRAY['orgs:read', 'members:read', 'venues:read', 'events:read',
                        'reservations:read', 'payments:read', 'orders:read', 'tickets:read',
                        'stats:read',
                        'venues:write', 'events:write', 'inventory:write', 'tickets:checkin',
                        'reservations:manage',
                        'orgs:manage', 'members:manage', 'api_keys:manage', 'payments:refund',
                        'audit:read'])
  ) AS m (role_name, codes)
  JOIN roles r ON r.name = m.role_name
  JOIN permissions p ON p.code = ANY (m.codes);

-- SUPER_ADMIN holds every permission.
INSERT INTO role_permissions (role_id, permission_id)
SELECT r.id, p.id FROM roles r CROSS JOIN permissions p WHERE r.name = 'SUPER_ADMIN';
