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
