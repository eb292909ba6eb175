"""Rotating JWT_SECRET and TICKET_SIGNING_SECRET without downtime (docs/OPERATIONS.md): instances
with the new secret and the old one in *_PREVIOUS accept what the old configuration made, while
new material comes from the new secret only.
"""
import subprocess

from conftest import BIN, running_ticketd
from layout import db_json
from test_auth import bearer, register
from test_orgs import make_org

OLD_JWT = "old-jwt-secret-0123456789-0123456789-0123"
NEW_JWT = "new-jwt-secret-0123456789-0123456789-0123"
OLD_SEAL = "old-ticket-signing-secret-0123456789-0123"
NEW_SEAL = "new-ticket-signing-secret-0123456789-0123"


def test_tokens_signed_with_the_previous_jwt_secret_verify_until_it_is_dropped():
    with running_ticketd({"JWT_SECRET": OLD_JWT}) as before:
        data = register(before).json()["data"]
        old_access, refresh = data["accessToken"], data["refreshToken"]
    with running_ticketd({"JWT_SECRET": NEW_JWT, "JWT_SECRET_PREVIOUS": OLD_JWT}) as during:
        assert during.get("/api/v1/me", headers=bearer(old_access)).status_code == 200
        # Refresh tokens are opaque (kept hashed in PostgreSQL): a rotation does not touch them.
        res = during.post("/api/v1/auth/refresh", json={"refreshToken": refresh})
        assert res.status_code == 200, res.text
        new_access = res.json()["data"]["accessToken"]
    with running_ticketd({"JWT_SECRET": NEW_JWT}) as after:
        assert after.get("/api/v1/me", headers=bearer(new_access)).status_code == 200
        res = after.get("/api/v1/me", headers=bearer(old_access))
        assert res.status_code == 401 and "invalid_token" in res.headers["WWW-Authenticate"]
    with running_ticketd({"JWT_SECRET": OLD_JWT}) as old_only:
        assert old_only.get("/api/v1/me", headers=bearer(new_access)).status_code == 401


def test_organization_ticket_keys_are_sealed_again_with_the_new_ticket_signing_secret():
    def sealed(org_id):
        return db_json(f"SELECT to_json(encode(sealed_secret, 'hex')) FROM org_ticket_keys WHERE org_id = '{org_id}'")

    with running_ticketd({"TICKET_SIGNING_SECRET": OLD_SEAL}) as before:
        res = register(before).json()["data"]
        admin = {"h": bearer(res["accessToken"])}
        org = make_org(before, admin)["id"]
        first = before.get(f"/api/v1/orgs/{org}/ticket-key", headers=admin["h"])
        assert first.status_code == 200, first.text
        public_key = first.json()["data"]["publicKey"]
        sealed_before = sealed(org)
    with running_ticketd({"TICKET_SIGNING_SECRET": NEW_SEAL, "TICKET_SIGNING_SECRET_PREVIOUS": OLD_SEAL}) as during:
        res = during.get(f"/api/v1/orgs/{org}/ticket-key", headers=admin["h"])
        assert res.status_code == 200 and res.json()["data"]["publicKey"] == public_key
    assert sealed(org) != sealed_before  # the same key, now sealed with the new secret
    with running_ticketd({"TICKET_SIGNING_SECRET": NEW_SEAL}) as after:
        res = after.get(f"/api/v1/orgs/{org}/ticket-key", headers=admin["h"])
        assert res.status_code == 200 and res.json()["data"]["publicKey"] == public_key


def test_previous_secrets_must_be_as_strong_as_current_ones():
    res = subprocess.run([BIN, "config-check"], capture_output=True, text=True,
                         env={"ENV_FILE": "/dev/null", "NODE_ENV": "development",
                              "JWT_SECRET_PREVIOUS": "short", "TICKET_SIGNING_SECRET_PREVIOUS": "x" * 40 + ",short"})
    assert res.returncode != 0
    assert "JWT_SECRET_PREVIOUS" in res.stderr and "TICKET_SIGNING_SECRET_PREVIOUS" in res.stderr
