"""The outbox publisher end to end: HTTP change → outbox row → Kafka, through the real broker.

The ticketd started here uses a database of its own (ticketd_outbox_e2e on the test server, created
and migrated by the fixture): its publisher sends every PENDING row of its database, and the shared
test database carries other suites' rows, so timings and exactly-once counts are only meaningful
on rows this module alone writes. Kafka is read with kcat (scripts/install-deps installs it).
"""
import json
import os
import shutil
import subprocess
import time
import uuid
from collections import Counter

import pytest

from conftest import BIN, TEST_DATABASE_URL, Ticketd
from layout import API, make_venue
from test_orgs import make_org, user

DB_NAME = "ticketd_outbox_e2e"
DB_URL = TEST_DATABASE_URL.rsplit("/", 1)[0] + "/" + DB_NAME
BROKERS = "127.0.0.1:9092"


def psql(url, sql):
    """Rows of `sql` (one JSON column) from the database at `url`."""
    if shutil.which("psql") is None:
        pytest.skip("psql is needed to inspect the outbox")
    res = subprocess.run(["psql", url, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    return [json.loads(line) for line in res.stdout.splitlines() if line.strip()]


def outbox_rows(where):
    return psql(DB_URL, "SELECT json_build_object('id', id, 'status', status, 'attempts', attempts, "
                        "'topic', topic, 'key', message_key, 'payload', payload, 'lastError', last_error, "
                        "'leaseOwner', lease_owner, 'sentAt', sent_at) "
                        f"FROM outbox_events WHERE {where} ORDER BY seq")


def wait_for(fetch, ok, timeout, step=0.05):
    deadline = time.time() + timeout
    value = fetch()
    while not ok(value) and time.time() < deadline:
        time.sleep(step)
        value = fetch()
    return value


def kafka_messages(topic, since_ms, keys, timeout=30):
    """Messages of `topic` written since `since_ms` whose key is in `keys`, read with kcat."""
    if shutil.which("kcat") is None:
        pytest.skip("kcat is needed to read Kafka")
    res = subprocess.run(["kcat", "-C", "-b", BROKERS, "-t", topic, "-o", f"s@{since_ms}", "-e", "-J", "-q",
                          "-X", "topic.metadata.refresh.interval.ms=1000"],
                         capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, res.stderr
    out = []
    for line in res.stdout.splitlines():
        if not line.strip():
            continue
        m = json.loads(line)
        if m.get("key") in keys:
            flat = m.get("headers") or []
            m["headerMap"] = dict(zip(flat[0::2], flat[1::2]))
            m["headerList"] = flat
            out.append(m)
    return out


@pytest.fixture(scope="module")
def outbox_db():
    exists = psql(TEST_DATABASE_URL, f"SELECT to_json(count(*)) FROM pg_database WHERE datname = '{DB_NAME}'")
    if exists[0] == 0:
        res = subprocess.run(["psql", TEST_DATABASE_URL, "-X", "-q", "-c", f"CREATE DATABASE {DB_NAME}"],
                             capture_output=True, text=True, timeout=60)
        assert res.returncode == 0 or "already exists" in res.stderr, res.stderr
    subprocess.run([BIN, "migrate"], check=True, capture_output=True, timeout=120,
                   env={**os.environ, "DATABASE_URL": DB_URL, "ENV_FILE": "/dev/null"})
    return DB_URL


@pytest.fixture(scope="module")
def publisher(outbox_db):
    t = Ticketd({"DATABASE_URL": outbox_db, "WORKERS_ENABLED": "true"})
    t.wait_ready()
    # Rows left behind by an interrupted earlier run are published first.
    wait_for(lambda: outbox_rows("status = 'PENDING'"), lambda rows: not rows, 60, 0.2)
    yield t
    assert t.stop() == 0, "".join(t.lines[-20:])


def create_event(t, admin, org_id, venue_id, request_id):
    body = {"orgId": org_id, "venueId": venue_id, "title": "Outbox " + uuid.uuid4().hex[:8],
            "startsAt": "2031-05-01T19:00:00Z"}
    res = t.post(f"{API}/events", json=body, headers={**admin["h"], "X-Request-Id": request_id})
    assert res.status_code == 201, res.text
    assert res.headers.get("X-Request-Id") == request_id
    return res.json()["data"]


def test_event_created_reaches_kafka_with_envelope_key_and_headers(publisher):
    t = publisher
    admin = user(t)
    org = make_org(t, admin)
    venue = make_venue(t, admin, org["id"])
    since_ms = int(time.time() * 1000) - 5000
    request_id = "outbox-e2e-" + uuid.uuid4().hex[:12]

    event = create_event(t, admin, org["id"], venue["id"], request_id)
    committed = time.time()
    rows = wait_for(lambda: outbox_rows(f"topic = 'event.created' AND aggregate_id = '{event['id']}'"),
                    lambda rs: len(rs) == 1 and rs[0]["status"] == "SENT", 2.0, 0.02)
    took = time.time() - committed
    assert len(rows) == 1 and rows[0]["status"] == "SENT", rows
    assert took < 2.0
    row = rows[0]
    assert row["attempts"] == 0 and row["leaseOwner"] is None and row["sentAt"] is not None

    msgs = kafka_messages("event.created", since_ms, {event["id"]})
    assert len(msgs) == 1, msgs
    m = msgs[0]
    assert m["key"] == event["id"]
    envelope = json.loads(m["payload"])
    assert set(envelope) == {"eventId", "type", "occurredAt", "version", "correlationId", "actor", "data"}
    assert envelope["eventId"] == row["id"]
    assert envelope["type"] == "event.created"
    assert envelope["version"] == 1
    assert envelope["correlationId"] == request_id
    assert envelope["occurredAt"].endswith("Z")
    assert envelope["actor"]["userId"] == admin["id"]
    assert envelope["data"]["event"]["id"] == event["id"]
    assert envelope == row["payload"], "the stored payload is sent as is"
    assert m["headerList"][0::2] == ["x-correlation-id", "x-event-id", "x-event-type"]
    assert m["headerMap"] == {"x-correlation-id": request_id, "x-event-id": row["id"],
                              "x-event-type": "event.created"}

    metrics = t.get("/metrics").text
    assert 'ticketd_outbox_sent_total{topic="event.created"}' in metrics
    assert "ticketd_outbox_backlog " in metrics
    ready = t.get("/health/ready").json()["data"]["checks"]["outbox_publisher"]
    assert ready["status"] == "up" and "listening" in ready["detail"], ready


def test_rows_written_while_kafka_is_down_are_sent_exactly_once_after_it_returns(publisher, services):
    t = publisher
    admin = user(t)
    org = make_org(t, admin)
    venue = make_venue(t, admin, org["id"])
    since_ms = int(time.time() * 1000) - 5000
    events = []
    services("stop", "kafka")
    stopped = time.time()
    try:
        # Make sure the broker really is gone (scripts/services only stops a broker it started).
        down = wait_for(lambda: t.get("/health/ready"), lambda r: r.status_code == 503, 15, 0.2)
        assert down.status_code == 503, "Kafka still answers after `services stop kafka`"
        # The API keeps taking changes; their events wait in the outbox.
        for i in range(20):
            events.append(create_event(t, admin, org["id"], venue["id"], f"outbox-down-{uuid.uuid4().hex[:8]}-{i}"))
        ids = ",".join(f"'{e['id']}'" for e in events)
        where = f"topic = 'event.created' AND aggregate_id IN ({ids})"
        # Nothing is marked SENT while the broker is away (about 30 s in all).
        while time.time() - stopped < 30:
            rows = outbox_rows(where)
            assert len(rows) == len(events)
            assert all(r["status"] == "PENDING" for r in rows), [r for r in rows if r["status"] != "PENDING"]
            time.sleep(1)
    finally:
        services("start", "kafka")
    restarted = time.time()

    rows = wait_for(lambda: outbox_rows(where), lambda rs: all(r["status"] == "SENT" for r in rs), 90, 0.2)
    assert all(r["status"] == "SENT" for r in rows), [(r["status"], r["attempts"], r["lastError"]) for r in rows]
    print(f"all {len(rows)} rows SENT {time.time() - restarted:.1f} s after Kafka was started again; "
          f"attempts {Counter(r['attempts'] for r in rows)}")

    keys = {e["id"] for e in events}
    msgs = wait_for(lambda: kafka_messages("event.created", since_ms, keys), lambda ms: len(ms) >= len(keys), 30, 1)
    per_event_id = Counter(m["headerMap"]["x-event-id"] for m in msgs)
    assert set(per_event_id) == {r["id"] for r in rows}
    assert all(n == 1 for n in per_event_id.values()), per_event_id
    assert len(msgs) == len(events)
    t.wait_ready(timeout=60)
