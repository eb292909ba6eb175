"""The hostile-input suite: what a hostile client tries in an afternoon, each a real request.

Every hole found by reading the code as an attacker (issue #12) has its test here, so the suite keeps
running as the code changes.
"""
import json
import os
import random
import socket
import string
import subprocess
import time
import uuid

import pytest

from conftest import BIN, TEST_DATABASE_URL, running_ticketd
from layout import API, add_member, scenario
from test_orgs import make_org, user
from test_platform import assert_error_envelope


def raw(port, data, timeout=5.0):
    """Sends raw bytes and returns everything the server answers until it closes or goes quiet."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        return read_until_quiet(s, timeout)


def read_until_quiet(s, timeout):
    s.settimeout(timeout)
    out = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
            if b"\r\n\r\n" in out and content_complete(out):
                break
    except socket.timeout:
        pass
    return out


def content_complete(data):
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False


def status_of(data):
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else None


def envelope_of(data):
    return json.loads(data.partition(b"\r\n\r\n")[2])


def header_of(data, name):
    for line in data.partition(b"\r\n\r\n")[0].split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == name.lower().encode():
            return v.strip().decode()
    return None


def metric_lines(t, name):
    return [line for line in t.get("/metrics").text.splitlines() if line.startswith(name)]


# --- 1. metric labels come from a bounded set ---------------------------------------------------

def test_invented_methods_are_one_metric_label(ticketd):
    rng = random.Random(12)
    invented = ["".join(rng.choice(string.ascii_uppercase) for _ in range(12)) for _ in range(40)]
    for m in invented:
        data = raw(ticketd.port, f"{m} /api/v1/nowhere/{uuid.uuid4()} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert status_of(data) in (400, 404, 405), data[:200]
    lines = metric_lines(ticketd, "ticketd_http_requests_total")
    assert not [line for line in lines if any(m in line for m in invented)], "client text became a label"
    assert any('method="OTHER"' in line for line in lines), lines
    # Random paths that match nothing share one route label.
    assert not [line for line in lines if "/nowhere/" in line]


# --- 2. SUPER_ADMIN is never granted through the API: test_orgs.py ------------------------------

# --- 3. production is the default ---------------------------------------------------------------

def test_without_node_env_the_server_refuses_to_start_without_its_secrets():
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "ENV_FILE": "/dev/null",
           "DATABASE_URL": TEST_DATABASE_URL, "PORT": "0"}
    res = subprocess.run([BIN, "serve"], env=env, capture_output=True, text=True, timeout=30)
    assert res.returncode != 0
    for name in ("JWT_SECRET", "TICKET_SIGNING_SECRET", "PAYMENT_WEBHOOK_SECRET"):
        assert name in res.stderr, res.stderr
    assert "production (the default)" in res.stderr
    # Schema changes need no secrets: a deployment migrates with the database URL alone.
    assert subprocess.run([BIN, "migrate"], env=env, capture_output=True, timeout=60).returncode == 0


def test_production_with_secrets_has_no_payment_simulator():
    with running_ticketd({"NODE_ENV": "production", "PAYMENT_SIMULATOR": ""}) as t:
        res = t.post(f"{API}/dev/payments/{uuid.uuid4()}/complete", json={"outcome": "SUCCEEDED"})
        assert_error_envelope(res, 404, "ROUTE_NOT_FOUND")


# --- 5. authorize before reading a large body ---------------------------------------------------

def head_only(port, path, headers, length=16_000_000):
    """A request head announcing a huge body that never comes: only an answer given on the head
    alone can arrive."""
    lines = [f"POST {path} HTTP/1.1", "Host: x", "Content-Type: application/json",
             f"Content-Length: {length}"] + [f"{k}: {v}" for k, v in headers.items()]
    return raw(port, ("\r\n".join(lines) + "\r\n\r\n").encode(), timeout=5)


def test_large_layout_routes_answer_on_the_head_before_reading_the_body(ticketd):
    s = scenario(ticketd)
    outsider = user(ticketd)
    support = add_member(ticketd, s.admin, s.org, "SUPPORT")
    sections = f"{API}/venues/{s.venue['id']}/sections"
    venues = f"{API}/orgs/{s.org['id']}/venues"
    for path, headers, status in [
            (sections, {}, 401),
            (venues, {}, 401),
            (sections, outsider["h"], 404),              # never reveal another tenant's venue
            (venues, outsider["h"], 404),
            (f"{API}/venues/{uuid.uuid4()}/sections", s.admin["h"], 404),
            (sections, support["h"], 403),               # visible, read-only
            (venues, support["h"], 403)]:
        start = time.time()
        data = head_only(ticketd.port, path, headers)
        assert status_of(data) == status, (path, headers, data[:300])
        assert time.time() - start < 4, "the answer waited for the body"
        assert envelope_of(data)["success"] is False


def test_a_small_body_cannot_expand_to_a_million_seats(ticketd):
    s = scenario(ticketd)
    rows = [{"name": f"R{i}", "seatCount": 1000} for i in range(1000)]
    body = {"sections": [{"name": "Huge", "code": "HUGE", "rows": rows}]}
    assert len(json.dumps(body)) < 40_000
    res = ticketd.post(f"{API}/venues/{s.venue['id']}/sections", json=body, headers=s.admin["h"])
    body = assert_error_envelope(res, 422)
    assert "TOO_MANY_SEATS" in [e["code"] for e in body["errors"]], body


# --- 6. connection exhaustion -------------------------------------------------------------------

def test_connections_past_the_per_ip_cap_get_429_and_past_the_total_cap_503():
    with running_ticketd({"HTTP_MAX_CONNECTIONS_PER_IP": "3", "HTTP_MAX_CONNECTIONS": "5"}) as t:
        held = [socket.create_connection(("127.0.0.1", t.port), timeout=5) for _ in range(3)]
        try:
            time.sleep(0.2)  # accepted in order
            data = raw(t.port, b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
            assert status_of(data) == 429, data[:300]
            assert header_of(data, "Retry-After") == "1"
            assert envelope_of(data)["errors"][0]["code"] == "TOO_MANY_CONNECTIONS"
            assert header_of(data, "X-Request-Id")
        finally:
            for s in held:
                s.close()
        # The cap counts open connections: closing them frees the address again.
        deadline = time.time() + 5
        while status_of(raw(t.port, b"GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")) != 200:
            assert time.time() < deadline
            time.sleep(0.05)
        assert any('reason="per_ip"' in line for line in metric_lines(t, "ticketd_http_connections_rejected_total"))
    with running_ticketd({"HTTP_MAX_CONNECTIONS": "2"}) as t:
        held = [socket.create_connection(("127.0.0.1", t.port), timeout=5) for _ in range(2)]
        try:
            time.sleep(0.2)
            data = raw(t.port, b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
            assert status_of(data) == 503, data[:300]
            assert header_of(data, "Retry-After") == "1"
            assert envelope_of(data)["errors"][0]["code"] == "SERVER_BUSY"
        finally:
            for s in held:
                s.close()


def logged_ip(t, response):
    """The client address ticketd logged for the request that got `response`."""
    request_id = response.headers["X-Request-Id"]
    deadline = time.time() + 5
    while time.time() < deadline:
        for r in t.log_records():
            if r.get("message") == "request" and r.get("requestId") == request_id:
                return r.get("ip")
        time.sleep(0.05)
    raise AssertionError(f"no access log line for {request_id}")


def test_x_forwarded_for_is_believed_only_from_trusted_proxies():
    spoof = {"X-Forwarded-For": "203.0.113.66"}
    # Nobody is trusted by default: a client cannot pick its address by sending the header.
    with running_ticketd({}) as t:
        assert logged_ip(t, t.get("/health/live", headers=spoof)) == "127.0.0.1"
    # Trusted peers (the test connects from 127.0.0.1): the right-most untrusted entry is the
    # client, whatever the client wrote further left; trusted hops are skipped.
    with running_ticketd({"TRUSTED_PROXIES": "127.0.0.1/32, 10.0.0.0/8"}) as t:
        assert logged_ip(t, t.get("/health/live", headers=spoof)) == "203.0.113.66"
        chain = {"X-Forwarded-For": "198.51.100.1, 203.0.113.7, 10.1.2.3"}
        assert logged_ip(t, t.get("/health/live", headers=chain)) == "203.0.113.7"
        assert logged_ip(t, t.get("/health/live", headers={"X-Forwarded-For": "junk"})) == "127.0.0.1"
        assert logged_ip(t, t.get("/health/live")) == "127.0.0.1"
    # A list that is not addresses stops the server at start-up instead of trusting nobody.
    bad = subprocess.run([BIN, "config-check"], capture_output=True, text=True, timeout=30,
                         env={"NODE_ENV": "development", "ENV_FILE": "/dev/null",
                              "TRUSTED_PROXIES": "10.0.0.0/8, the-load-balancer"})
    assert bad.returncode != 0
    assert "TRUSTED_PROXIES" in bad.stderr and "the-load-balancer" in bad.stderr


def test_the_header_timeout_applies_to_every_request_on_a_kept_alive_connection():
    with running_ticketd({"HTTP_HEADER_TIMEOUT_MS": "500", "HTTP_IDLE_TIMEOUT_MS": "60000"}) as t:
        with socket.create_connection(("127.0.0.1", t.port), timeout=5) as s:
            s.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
            assert status_of(read_until_quiet(s, 5)) == 200
            # The second request's head trickles in a byte every 100 ms: it never completes
            # within the header timeout, so the server must close long before the idle timeout.
            start = time.time()
            closed = False
            for b in b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200:
                try:
                    s.sendall(bytes([b]))
                except OSError:
                    closed = True
                    break
                time.sleep(0.1)
                if time.time() - start > 5:
                    break
            if not closed:
                s.settimeout(2)
                try:
                    closed = s.recv(1) == b""
                except OSError:
                    closed = True
            assert closed, "a kept-alive connection could trickle its headers for ever"
            assert time.time() - start < 5


# --- 7. oversized headers -----------------------------------------------------------------------

def test_oversized_headers_answer_431(ticketd):
    data = raw(ticketd.port, b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40_000 + b"\r\n\r\n")
    assert status_of(data) == 431, data[:200]
    assert envelope_of(data)["errors"][0]["code"] == "HEADERS_TOO_LARGE"


# --- 11. logs -----------------------------------------------------------------------------------

def test_access_log_names_the_user_and_the_organization(ticketd):
    admin = user(ticketd)
    org = make_org(ticketd, admin)
    rid = "hostile-log-" + uuid.uuid4().hex
    assert ticketd.get(f"{API}/orgs/{org['id']}", headers={**admin["h"], "X-Request-Id": rid}).status_code == 200
    deadline = time.time() + 5
    while time.time() < deadline:
        recs = [r for r in ticketd.log_records() if r.get("requestId") == rid and r.get("message") == "request"]
        if recs:
            assert recs[0]["userId"] == admin["id"]
            assert recs[0]["orgId"] == org["id"]
            assert "msg" not in recs[0]
            return
        time.sleep(0.05)
    pytest.fail("no access log line")


# --- payments: 4, 9, 10, 11 ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def pay_t():
    from test_payments import ENV
    from conftest import Ticketd
    t = Ticketd(ENV)
    t.wait_ready(90)
    yield t
    assert t.stop() == 0, "".join(t.lines[-20:])


@pytest.fixture(scope="module")
def pay_shop(pay_t):
    from test_reservations import HALL_20, open_event, users
    s = open_event(pay_t, sections=HALL_20)
    s.buyers = users(pay_t, 3)
    return s


def test_rejected_webhooks_keep_a_short_prefix_and_are_counted(pay_t):
    from test_payments import metric, webhook
    from layout import db_json
    tag = "evt_hostile_" + uuid.uuid4().hex
    body = json.dumps({"provider": "simulated", "providerEventId": tag, "providerRef": "x",
                       "status": "SUCCEEDED", "payload": {"junk": "é" * 200_000}}, ensure_ascii=False).encode()
    before = metric(pay_t, "ticketd_payment_webhooks_total", result="rejected")
    res = webhook(pay_t, body, "t=1,v1=" + "0" * 64)
    assert_error_envelope(res, 401)
    assert metric(pay_t, "ticketd_payment_webhooks_total", result="rejected") == before + 1
    stored = db_json("SELECT json_build_object('len', octet_length(raw_body), 'bytes', raw_body_bytes) "
                     f"FROM payment_webhook_events WHERE provider_event_id = '{tag}'")
    assert stored == [{"len": stored[0]["len"], "bytes": len(body)}]
    assert 2000 <= stored[0]["len"] <= 2048, stored   # a prefix cut on a character boundary
    # An event id the database cannot store (NUL, a cut character) still gets 401 and a record.
    before = metric(pay_t, "ticketd_payment_webhooks_total", result="rejected")
    nul = json.dumps({"provider": "simulated", "providerEventId": "evt\u0000x", "providerRef": "x",
                      "status": "SUCCEEDED"}).encode()
    assert_error_envelope(webhook(pay_t, nul, "t=1,v1=" + "0" * 64), 401)
    long_id = json.dumps({"provider": "simulated", "providerEventId": "x" + "é" * 150, "providerRef": "x",
                          "status": "SUCCEEDED"}, ensure_ascii=False).encode()
    assert_error_envelope(webhook(pay_t, long_id, "t=1,v1=" + "0" * 64), 401)
    assert metric(pay_t, "ticketd_payment_webhooks_total", result="rejected") == before + 2


def test_only_the_payer_completes_a_simulated_checkout(pay_t, pay_shop):
    from test_payments import complete, held_and_pending, payment
    who = pay_shop.buyers[0]
    r, p = held_and_pending(pay_t, pay_shop, who, "H-A-1")
    support = add_member(pay_t, pay_shop.admin, pay_shop.org, "SUPPORT")
    staff = add_member(pay_t, pay_shop.admin, pay_shop.org, "ORG_STAFF")
    key = pay_t.post(f"{API}/orgs/{pay_shop.org['id']}/api-keys", json={"name": "support key", "role": "SUPPORT"},
                     headers=pay_shop.admin["h"])
    assert key.status_code == 201, key.text
    for h in (support["h"], staff["h"], pay_shop.admin["h"], {"X-Api-Key": key.json()["data"]["key"]}):
        res = complete(pay_t, {"h": h}, p["id"])
        assert_error_envelope(res, 403, "FORBIDDEN")
    assert complete(pay_t, user(pay_t), p["id"]).status_code == 404  # a stranger does not see it
    assert payment(pay_t, who, p["id"])["status"] == "PENDING"
    assert complete(pay_t, who, p["id"]).status_code == 200
    assert payment(pay_t, who, p["id"])["status"] == "SUCCEEDED"


def test_concurrent_refunds_reach_the_provider_once(pay_t, pay_shop):
    from test_payments import complete, held_and_pending, metric
    from test_reservations import fire
    who = pay_shop.buyers[1]
    r, p = held_and_pending(pay_t, pay_shop, who, "H-A-2")
    assert complete(pay_t, who, p["id"]).status_code == 200
    before = metric(pay_t, "ticketd_payment_provider_refunds_total", provider="simulated")
    path = f"{API}/payments/{p['id']}/refund"
    results = fire([lambda s: s.post(pay_t.url(path), json={"reason": "race"}, headers=pay_shop.admin["h"],
                                     timeout=30) for _ in range(12)])
    statuses = sorted(res.status_code for res in results)
    assert statuses.count(200) == 1, [res.text for res in results]
    assert statuses.count(409) == 11
    for res in results:
        if res.status_code == 409:
            assert res.json()["errors"][0]["code"] in ("REFUND_IN_PROGRESS", "ALREADY_REFUNDED")
    assert metric(pay_t, "ticketd_payment_provider_refunds_total", provider="simulated") == before + 1


def test_an_existing_payment_is_returned_only_for_the_amount_asked(pay_t, pay_shop):
    from test_payments import held_and_pending, pay
    who = pay_shop.buyers[2]
    r, p = held_and_pending(pay_t, pay_shop, who, "H-A-3")
    assert pay(pay_t, who, r["id"], amountCents=p["amountCents"], currency=p["currency"]).status_code == 200
    body = assert_error_envelope(pay(pay_t, who, r["id"], amountCents=p["amountCents"] + 1), 422,
                                 "AMOUNT_MISMATCH")
    assert body["errors"][0]["field"] == "amountCents"
    other = "USD" if p["currency"] != "USD" else "EUR"
    assert_error_envelope(pay(pay_t, who, r["id"], currency=other), 422, "CURRENCY_MISMATCH")


def test_bodyless_writes_still_parse_a_body_when_one_is_sent(pay_t, pay_shop):
    from test_reservations import created, reserve
    who = pay_shop.buyers[2]
    r = created(reserve(pay_t, who, pay_shop.eid, [pay_shop.seats["H-B-9"]]))
    for path, h in [(f"{API}/reservations/{r['id']}/cancel", who["h"]),
                    (f"{API}/events/{pay_shop.eid}/seats/sync", pay_shop.admin["h"])]:
        res = pay_t.post(path, data="hello", headers={**h, "Content-Type": "text/plain"})
        assert_error_envelope(res, 415, "UNSUPPORTED_MEDIA_TYPE")
        res = pay_t.post(path, data="{", headers={**h, "Content-Type": "application/json"})
        assert res.status_code == 400, res.text
        res = pay_t.post(path, json={"unexpected": True}, headers=h)
        body = assert_error_envelope(res, 422)
        assert body["errors"][0]["code"] == "UNKNOWN_FIELD"
    # Nothing happened above; with no body (or an empty object) they work.
    assert pay_t.post(f"{API}/reservations/{r['id']}/cancel", json={}, headers=who["h"]).status_code == 200
    assert pay_t.post(f"{API}/events/{pay_shop.eid}/seats/sync", headers=pay_shop.admin["h"]).status_code == 200


# --- 8. NUL and control characters --------------------------------------------------------------

def test_control_characters_are_refused_never_truncated(ticketd):
    res = ticketd.post(f"{API}/auth/register", json={"email": f"nul-{uuid.uuid4().hex}@example.com",
                                                     "password": "correct horse", "displayName": "A\u0000x"})
    body = assert_error_envelope(res, 422)
    assert body["errors"][0] == {"code": "INVALID_CHARACTERS", "field": "displayName",
                                 "message": body["errors"][0]["message"]}
    admin = user(ticketd)
    for name in ("Bell\u0007", "Esc\u001b[31m", "Del\u007f", "Line\nbreak"):
        res = ticketd.post(f"{API}/orgs", json={"name": name, "slug": "s-" + uuid.uuid4().hex[:12]},
                           headers=admin["h"])
        assert assert_error_envelope(res, 422)["errors"][0]["code"] == "INVALID_CHARACTERS", name
    # Free text keeps its line breaks and tabs, and exactly what was sent is what is stored.
    s = scenario(ticketd)
    text = "Doors at 7.\nBring ID\tplease. Zoë ✓"
    res = ticketd.session.patch(ticketd.url(f"{API}/events/{s.event['id']}"), json={"description": text},
                                headers=s.admin["h"])
    assert res.status_code == 200, res.text
    got = ticketd.get(f"{API}/events/{s.event['id']}", headers=s.admin["h"]).json()["data"]
    assert got["description"] == text
    res = ticketd.session.patch(ticketd.url(f"{API}/events/{s.event['id']}"),
                                json={"description": "cut\u0000here"}, headers=s.admin["h"])
    assert_error_envelope(res, 422, "INVALID_CHARACTERS")
    # A NUL that arrives by another path (a query parameter) is refused, not a 500.
    res = ticketd.get(f"{API}/events", params={"q": "a\u0000b"})
    assert res.status_code in (400, 422), res.text
    assert res.json()["success"] is False
