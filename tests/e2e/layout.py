"""Helpers shared by test_venues.py and test_events.py: venues, events, seat maps, raw posts, the DB.

Not a test module (pytest collects test_*.py only); it builds on the identity/org helpers.
"""
import json
import select
import shutil
import socket
import subprocess
import time
import uuid
from datetime import datetime
from types import SimpleNamespace

import pytest

from conftest import TEST_DATABASE_URL
from test_auth import bearer
from test_orgs import make_org, user

API = "/api/v1"
PASSWORD = "correct horse"  # test_auth.register's default password
STARTS = "2031-05-01T19:00:00Z"

VENUE_KEYS = {"id", "orgId", "name", "address", "city", "country", "timezone",
              "sectionCount", "rowCount", "seatCount", "createdAt"}
EVENT_KEYS = {"id", "orgId", "venueId", "title", "description", "status", "startsAt", "endsAt", "currency",
              "salesStartAt", "salesEndAt", "publishedAt", "cancelledAt", "createdAt", "updatedAt",
              "seatCount", "inventoryVersion", "queueMode", "queueAdmitPerSecond", "queueAutoThresholdPerSecond"}
AVAILABILITY_KEYS = {"total", "available", "reserved", "sold", "blocked"}
TICKET_TYPE_KEYS = {"id", "eventId", "name", "code", "kind", "priceCents", "feesCents", "totalCapacity",
                    "seatCount", "availability", "createdAt", "updatedAt"}
SEAT_KEYS = {"id", "seatNo", "seatNumber", "seatCode", "label", "section", "sectionId", "sectionCode", "row",
             "rowId", "status", "priceCents", "feesCents", "ticketTypeId", "reservedUntil", "x", "y"}


def tag():
    return uuid.uuid4().hex[:10]


def ts(text):
    """An ISO-8601 timestamp with offset or Z as an aware datetime (for comparing instants)."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert parsed.tzinfo is not None, text
    return parsed


def patch(t, path, timeout=10, **kw):
    return t.session.patch(t.url(path), timeout=timeout, **kw)


def fields(res):
    return [e.get("field") for e in res.json()["errors"]]


def errors(res):
    return [(e["code"], e.get("field")) for e in res.json()["errors"]]


def login(t, u):
    """Bearer headers for user `u` from instance `t` (another instance may use another signing secret)."""
    res = t.post(f"{API}/auth/login", json={"email": u["email"], "password": PASSWORD})
    assert res.status_code == 200, res.text
    return bearer(res.json()["data"]["accessToken"])


def add_member(t, admin, org, role):
    u = user(t)
    res = t.post(f"{API}/orgs/{org['id']}/members", json={"userId": u["id"], "role": role}, headers=admin["h"])
    assert res.status_code == 201, res.text
    return u


def small_sections():
    """Stalls (ST, sortOrder 1): rows A and B of 4 seats; Balcony (BAL, sortOrder 2): row A, explicit seats 1..3.

    11 seats; every sortOrder explicit so the natural order is fully determined.
    """
    return [
        {"name": "Stalls", "code": "ST", "sortOrder": 1, "rows": [
            {"name": "A", "sortOrder": 1, "seatCount": 4},
            {"name": "B", "sortOrder": 2, "seatCount": 4},
        ]},
        {"name": "Balcony", "code": "BAL", "sortOrder": 2, "rows": [
            {"name": "A", "sortOrder": 1, "seats": [
                {"seatNumber": 1, "label": "1L", "x": 10.5, "y": 20.0},
                {"seatNumber": 2, "x": 11.5, "y": 20.0},
                {"seatNumber": 3},
            ]},
        ]},
    ]


SMALL_SEATS = 11


def venue_body(sections=None, **extra):
    return {"name": "Venue " + tag(), "sections": small_sections() if sections is None else sections, **extra}


def make_venue(t, who, org_id, sections=None, **extra):
    res = t.post(f"{API}/orgs/{org_id}/venues", json=venue_body(sections, **extra), headers=who["h"])
    assert res.status_code == 201, res.text
    return res.json()["data"]


def get_venue(t, who, venue_id):
    res = t.get(f"{API}/venues/{venue_id}", headers=who["h"])
    assert res.status_code == 200, res.text
    return res.json()["data"]


def sections_by_code(venue_layout):
    """{section code: {"id", "rows": {row name: row id}, ...the section}} from GET /venues/:id."""
    out = {}
    for s in venue_layout["sections"]:
        out[s["code"]] = {**s, "rowIds": {r["name"]: r["id"] for r in s["rows"]}}
    return out


def make_event(t, who, org_id, venue_id, **extra):
    body = {"orgId": org_id, "venueId": venue_id, "title": "Event " + tag(), "startsAt": STARTS, **extra}
    res = t.post(f"{API}/events", json=body, headers=who["h"])
    assert res.status_code == 201, res.text
    return res.json()["data"]


def set_status(t, who, event_id, status):
    res = patch(t, f"{API}/events/{event_id}", json={"status": status}, headers=who["h"])
    assert res.status_code == 200, res.text
    assert res.json()["data"]["status"] == status
    return res.json()["data"]


def publish(t, who, event_id):
    return set_status(t, who, event_id, "PUBLISHED")


def scenario(t, sections=None):
    """A fresh admin, organization, venue (small layout by default) and DRAFT event on it."""
    admin = user(t)
    org = make_org(t, admin)
    venue = make_venue(t, admin, org["id"], sections)
    event = make_event(t, admin, org["id"], venue["id"])
    return SimpleNamespace(admin=admin, org=org, venue=venue, event=event,
                           layout=sections_by_code(get_venue(t, admin, venue["id"])))


def seat_page(t, event_id, h=None, timeout=10, **params):
    return t.session.get(t.url(f"{API}/events/{event_id}/seats"), params=params, headers=h, timeout=timeout)


def all_seats(t, event_id, h=None, **params):
    """Every seat-map item in order, following the pages (limit 500)."""
    out, page = [], 1
    while True:
        res = seat_page(t, event_id, h, page=page, limit=500, **params)
        assert res.status_code == 200, res.text
        body = res.json()
        out += body["data"]
        if not body["meta"]["hasNext"]:
            assert body["meta"]["total"] == len(out)
            return out
        page += 1


def seats_by_code(t, event_id, h=None):
    return {s["seatCode"]: s for s in all_seats(t, event_id, h)}


def get_event(t, event_id, h=None):
    res = t.get(f"{API}/events/{event_id}", headers=h)
    assert res.status_code == 200, res.text
    return res.json()["data"]


def patch_seats(t, who_h, event_id, **body):
    return patch(t, f"{API}/events/{event_id}/seats", json=body, headers=who_h)


def poll(fetch, ok, timeout=1.0):
    """Calls fetch() until ok(result) or the timeout; returns the last result."""
    deadline = time.time() + timeout
    while True:
        got = fetch()
        if ok(got) or time.time() >= deadline:
            return got
        time.sleep(0.05)


def post_streamed(t, path, headers, size, prefix=b'{"name": "', suffix=b'"}', chunk=64 << 10):
    """POSTs a `size`-byte JSON body over a raw socket, stopping early if the server answers
    (or closes) before the body is sent. Returns (status or None, raw response bytes)."""
    filler = size - len(prefix) - len(suffix)
    assert filler > 0
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{t.port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {size}\r\nConnection: close\r\n"
            + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode()
    block = b"x" * chunk
    received = b""
    with socket.create_connection(("127.0.0.1", t.port), timeout=30) as s:
        try:
            s.sendall(head + prefix)
            left = filler
            while left > 0:
                if select.select([s], [], [], 0)[0]:
                    break  # the server answered early
                n = min(left, chunk)
                s.sendall(block[:n])
                left -= n
            else:
                s.sendall(suffix)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            pass  # closed early: read whatever answer it sent
        try:
            while True:
                data = s.recv(65536)
                if not data:
                    break
                received += data
                head_end = received.find(b"\r\n\r\n")
                if head_end >= 0:
                    length = None
                    for line in received[:head_end].split(b"\r\n")[1:]:
                        name, _, value = line.partition(b":")
                        if name.strip().lower() == b"content-length":
                            length = int(value.strip())
                    if length is not None and len(received) >= head_end + 4 + length:
                        break
        except (ConnectionResetError, socket.timeout):
            pass
    status = None
    if received.startswith(b"HTTP/1."):
        status = int(received.split(b" ", 2)[1])
    return status, received


def db_json(sql):
    """Rows of a query whose single column is JSON text, via psycopg2 if importable, else the psql
    client; skips the calling test when neither is available."""
    try:
        import psycopg2  # noqa: F401  (optional)
    except ImportError:
        psycopg2 = None
    if psycopg2 is not None:
        conn = psycopg2.connect(TEST_DATABASE_URL)
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
                return [json.loads(r[0]) if isinstance(r[0], str) else r[0] for r in cur.fetchall()]
        finally:
            conn.close()
    psql = shutil.which("psql")
    if psql is None:
        pytest.skip("no PostgreSQL client (psycopg2 or psql) to inspect the database")
    res = subprocess.run([psql, TEST_DATABASE_URL, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    return [json.loads(line) for line in res.stdout.splitlines() if line.strip()]
