"""Identity end to end: registration, login, token rotation, logout and token hygiene."""
import base64
import concurrent.futures
import hashlib
import hmac
import json
import time
import uuid

import pytest
import requests

from conftest import Ticketd


def email():
    return f"user-{uuid.uuid4().hex[:12]}@example.com"


def register(t, addr=None, password="correct horse", **extra):
    body = {"email": addr or email(), "password": password, **extra}
    return t.post("/api/v1/auth/register", json=body)


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(claims, secret=b"wrong", alg="HS256"):
    header = b64url(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    payload = b64url(json.dumps(claims).encode())
    if alg == "none":
        return f"{header}.{payload}."
    sig = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64url(sig)}"


def test_register_returns_tokens_user_and_authorization(ticketd):
    addr = email()
    res = register(ticketd, addr, displayName="Ada")
    assert res.status_code == 201, res.text
    data = res.json()["data"]
    assert data["tokenType"] == "Bearer"
    assert data["expiresIn"] == 900
    assert data["accessToken"].count(".") == 2
    assert len(data["refreshToken"]) >= 40
    assert data["user"]["email"] == addr
    assert data["user"]["displayName"] == "Ada"
    uuid.UUID(data["user"]["id"])
    assert data["authorization"] == {"roles": ["USER"], "memberships": []}
    assert "password" not in res.text


def test_me_with_the_access_token(ticketd):
    data = register(ticketd).json()["data"]
    me = ticketd.get("/api/v1/me", headers=bearer(data["accessToken"]))
    assert me.status_code == 200
    body = me.json()["data"]
    assert body["user"]["id"] == data["user"]["id"]
    assert body["roles"] == ["USER"]
    assert body["memberships"] == []


def test_me_without_a_token_is_401_with_www_authenticate(ticketd):
    res = ticketd.get("/api/v1/me", headers={"X-Request-Id": "anon-me"})
    assert res.status_code == 401
    assert res.headers["WWW-Authenticate"].startswith("Bearer")
    assert res.headers["X-Request-Id"] == "anon-me"
    assert res.json()["errors"][0]["code"] == "AUTH_REQUIRED"


def test_bearer_scheme_is_case_insensitive(ticketd):
    token = register(ticketd).json()["data"]["accessToken"]
    for scheme in ("bearer", "BEARER", "Bearer", "bEaReR"):
        assert ticketd.get("/api/v1/me", headers={"Authorization": f"{scheme} {token}"}).status_code == 200
    assert ticketd.get("/api/v1/me", headers={"Authorization": f"Basic {token}"}).status_code == 401
    assert ticketd.get("/api/v1/me", headers={"Authorization": "Bearer"}).status_code == 401
    assert ticketd.get("/api/v1/me", headers={"Authorization": f"Bearer {token} extra"}).status_code == 401


def test_email_is_case_insensitive_and_unique(ticketd):
    addr = email()
    assert register(ticketd, addr.upper()).status_code == 201
    dup = register(ticketd, addr)
    assert dup.status_code == 409
    assert dup.json()["errors"][0]["code"] == "EMAIL_TAKEN"
    login = ticketd.post("/api/v1/auth/login", json={"email": "  " + addr.title() + " ", "password": "correct horse"})
    assert login.status_code == 200
    assert login.json()["data"]["user"]["email"] == addr


def test_twenty_parallel_registrations_of_one_email_create_one_user(ticketd):
    addr = email()

    def attempt(_):
        return requests.post(ticketd.url("/api/v1/auth/register"),
                             json={"email": addr, "password": "correct horse"}, timeout=30).status_code

    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        codes = list(pool.map(attempt, range(20)))
    assert codes.count(201) == 1, codes
    assert codes.count(409) == 19, codes


@pytest.mark.parametrize("body,status,field", [
    ({"email": "not-an-email", "password": "correct horse"}, 422, "email"),
    ({"email": "a@b.co", "password": "short"}, 422, "password"),
    ({"email": "a@b.co", "password": "x" * 73}, 422, "password"),
    ({"email": "a@b.co"}, 422, "password"),
    ({"email": 42, "password": "correct horse"}, 400, "email"),
    ({"email": "a@b.co", "password": "correct horse", "role": "SUPER_ADMIN"}, 422, "role"),
    ({"email": "a@b.co", "password": "correct horse", "displayName": ""}, 422, "displayName"),
])
def test_register_validation(ticketd, body, status, field):
    res = ticketd.post("/api/v1/auth/register", json=body)
    assert res.status_code == status, res.text
    assert field in [e.get("field") for e in res.json()["errors"]]


def test_malformed_and_non_json_bodies(ticketd):
    bad = ticketd.post("/api/v1/auth/login", data=b'{"email": ', headers={"Content-Type": "application/json"})
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["code"] == "MALFORMED_JSON"
    text = ticketd.post("/api/v1/auth/login", data=b"email=x", headers={"Content-Type": "text/plain"})
    assert text.status_code == 415
    arr = ticketd.post("/api/v1/auth/login", json=["x"])
    assert arr.status_code == 400


def test_login_failures_look_the_same(ticketd):
    addr = email()
    register(ticketd, addr)
    wrong_pw = ticketd.post("/api/v1/auth/login", json={"email": addr, "password": "wrong password"})
    no_user = ticketd.post("/api/v1/auth/login", json={"email": email(), "password": "wrong password"})
    for res in (wrong_pw, no_user):
        assert res.status_code == 401
        assert res.json()["errors"][0]["code"] == "INVALID_CREDENTIALS"
        assert res.json()["message"] == wrong_pw.json()["message"]


def test_refresh_rotates_and_reuse_revokes_the_family(ticketd):
    first = register(ticketd).json()["data"]
    second = ticketd.post("/api/v1/auth/refresh", json={"refreshToken": first["refreshToken"]})
    assert second.status_code == 200, second.text
    second = second.json()["data"]
    assert second["refreshToken"] != first["refreshToken"]
    assert ticketd.get("/api/v1/me", headers=bearer(second["accessToken"])).status_code == 200
    # The old token again: theft assumed, the whole family dies.
    reuse = ticketd.post("/api/v1/auth/refresh", json={"refreshToken": first["refreshToken"]})
    assert reuse.status_code == 401
    assert ticketd.post("/api/v1/auth/refresh", json={"refreshToken": second["refreshToken"]}).status_code == 401
    assert ticketd.get("/api/v1/me", headers=bearer(second["accessToken"])).status_code == 401


def test_concurrent_refresh_of_one_token_succeeds_once(ticketd):
    token = register(ticketd).json()["data"]["refreshToken"]

    def attempt(_):
        return requests.post(ticketd.url("/api/v1/auth/refresh"), json={"refreshToken": token}, timeout=30).status_code

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(attempt, range(8)))
    assert codes.count(200) == 1, codes


def test_unknown_refresh_token_is_401(ticketd):
    res = ticketd.post("/api/v1/auth/refresh", json={"refreshToken": "nope"})
    assert res.status_code == 401
    assert res.json()["errors"][0]["code"] == "INVALID_REFRESH_TOKEN"


def test_logout_revokes_the_session(ticketd):
    data = register(ticketd).json()["data"]
    out = ticketd.post("/api/v1/auth/logout", headers=bearer(data["accessToken"]))
    assert out.status_code == 204
    assert out.content == b""
    assert ticketd.get("/api/v1/me", headers=bearer(data["accessToken"])).status_code == 401
    assert ticketd.post("/api/v1/auth/refresh", json={"refreshToken": data["refreshToken"]}).status_code == 401


def test_logout_with_only_the_refresh_token(ticketd):
    data = register(ticketd).json()["data"]
    assert ticketd.post("/api/v1/auth/logout", json={"refreshToken": data["refreshToken"]}).status_code == 204
    assert ticketd.get("/api/v1/me", headers=bearer(data["accessToken"])).status_code == 401
    assert ticketd.post("/api/v1/auth/logout", json={"refreshToken": data["refreshToken"]}).status_code == 401


def test_other_sessions_survive_a_logout(ticketd):
    addr = email()
    a = register(ticketd, addr).json()["data"]
    b = ticketd.post("/api/v1/auth/login", json={"email": addr, "password": "correct horse"}).json()["data"]
    assert ticketd.post("/api/v1/auth/logout", headers=bearer(a["accessToken"])).status_code == 204
    assert ticketd.get("/api/v1/me", headers=bearer(b["accessToken"])).status_code == 200


def claims_like(token, **override):
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(override)
    return claims


@pytest.mark.parametrize("mutate", ["alg_none", "wrong_secret", "tampered", "garbage", "wrong_aud", "wrong_iss", "expired"])
def test_bad_tokens_are_rejected(ticketd, mutate):
    good = register(ticketd).json()["data"]["accessToken"]
    if mutate == "alg_none":
        token = forge(claims_like(good), alg="none")
    elif mutate == "wrong_secret":
        token = forge(claims_like(good))
    elif mutate == "tampered":
        h, p, s = good.split(".")
        token = ".".join([h, b64url(json.dumps(claims_like(good, sub=str(uuid.uuid4()))).encode()), s])
    elif mutate == "garbage":
        token = "abc.def"
    elif mutate == "wrong_aud":
        token = forge(claims_like(good, aud="someone-else"), secret=b"unused")
    elif mutate == "wrong_iss":
        token = forge(claims_like(good, iss="evil"), secret=b"unused")
    else:
        token = forge(claims_like(good, exp=int(time.time()) - 5), secret=b"unused")
    res = ticketd.get("/api/v1/me", headers=bearer(token))
    assert res.status_code == 401, res.text
    assert "invalid_token" in res.headers["WWW-Authenticate"]


def test_tokens_signed_with_the_real_secret_but_wrong_claims():
    """With a known secret the test can sign tokens the server must still refuse."""
    secret = "e2e-test-secret-" + "x" * 32
    t = Ticketd({"JWT_SECRET": secret})
    try:
        good = register(t).json()["data"]["accessToken"]
        assert t.get("/api/v1/me", headers=bearer(good)).status_code == 200
        key = secret.encode()
        for claims in (claims_like(good, aud="other"), claims_like(good, iss="other"),
                       claims_like(good, exp=int(time.time()) - 1), claims_like(good, sid=str(uuid.uuid4()))):
            res = t.get("/api/v1/me", headers=bearer(forge(claims, secret=key)))
            assert res.status_code == 401, claims
        # Correctly signed and well-formed: accepted (proves the forge helper is right).
        assert t.get("/api/v1/me", headers=bearer(forge(claims_like(good), secret=key))).status_code == 200
    finally:
        assert t.stop() == 0


def test_short_lived_access_tokens_expire():
    t = Ticketd({"JWT_EXPIRES_IN": "1s"})
    try:
        data = register(t).json()["data"]
        assert data["expiresIn"] == 1
        deadline = time.time() + 5
        while time.time() < deadline:
            if t.get("/api/v1/me", headers=bearer(data["accessToken"])).status_code == 401:
                break
            time.sleep(0.2)
        else:
            pytest.fail("token did not expire")
        # The refresh token still works and yields a fresh access token.
        fresh = t.post("/api/v1/auth/refresh", json={"refreshToken": data["refreshToken"]}).json()["data"]
        assert t.get("/api/v1/me", headers=bearer(fresh["accessToken"])).status_code == 200
    finally:
        assert t.stop() == 0


def test_secrets_never_reach_the_logs(ticketd):
    data = register(ticketd, password="very-secret-pw").json()["data"]
    ticketd.get("/api/v1/me", headers=bearer(data["accessToken"]))
    time.sleep(0.2)
    text = "".join(ticketd.lines)
    assert "very-secret-pw" not in text
    assert data["accessToken"] not in text
    assert data["refreshToken"] not in text
