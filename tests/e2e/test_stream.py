"""Live seat maps over SSE end to end: GET /api/v1/events/:eventId/stream (README, "Live seat maps").

Snapshot then updates, two instances through Redis, many clients with abrupt disconnects, no update
lost between snapshot and subscription, heartbeats, a Redis restart mid-stream, limits, slow
clients and graceful shutdown. Clients are plain HTTP/1.1 connections read by a small SSE parser.

The module's own instance runs no background workers (other instances share the test database,
and no hold here must lapse) and allows many streams and holds per user.
"""
import contextlib
import http.client
import json
import random
import re
import socket
import struct
import threading
import time
import uuid

import pytest

from conftest import Ticketd, running_ticketd
from layout import API, db_json, make_event, publish, scenario
from test_reservations import BASE_ENV, HALL_20, cancel, created, open_event, reserve, users

STREAM_ENV = {**BASE_ENV, "WORKERS_ENABLED": "false", "SSE_MAX_STREAMS_PER_IP": "1000",
              "RESERVATION_MAX_ACTIVE_PER_USER_EVENT": "1000", "SSE_HEARTBEAT_SECONDS": "0.5"}
SNAPSHOT_SEAT_KEYS = {"id", "seatNo", "status", "reservedUntil"}
UPDATE_SEAT_KEYS = {"id", "status", "reservedUntil"}


def instance(**env):
    return Ticketd({**STREAM_ENV, **env})


def running(**env):
    return running_ticketd({**STREAM_ENV, **env})


@pytest.fixture(scope="module")
def ticketd():
    t = instance()
    yield t
    assert t.stop() == 0, "".join(t.lines[-20:])


# --------------------------------------------------------------------------------------------
# An SSE client
# --------------------------------------------------------------------------------------------

class Sse:
    """One stream, read on a thread; keeps every message and the seat statuses it implies."""

    def __init__(self, t, event_id, headers=None, source_ip=None, read=True, timeout=30):
        self.conn = http.client.HTTPConnection("127.0.0.1", t.port, timeout=timeout,
                                               source_address=(source_ip, 0) if source_ip else None)
        self.conn.request("GET", f"{API}/events/{event_id}/stream", headers=headers or {})
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.headers = {k.lower(): v for k, v in self.resp.getheaders()}
        self.messages = []  # (event, id, data, monotonic arrival time)
        self.seats = {}  # seat id -> status, from the snapshot and every update
        self.ended = False
        self.cond = threading.Condition()
        self.thread = None
        if self.status != 200:
            self.body = self.resp.read()
            self.conn.close()
            self.ended = True
        elif read:
            self.thread = threading.Thread(target=self._run, daemon=True)
            self.thread.start()

    def _run(self):
        event, mid, data = None, None, []
        try:
            while True:
                raw = self.resp.readline()
                if not raw:
                    break
                line = raw.decode().rstrip("\r\n")
                if line == "":
                    if data:
                        self._dispatch(event or "message", mid, "\n".join(data))
                    event, mid, data = None, None, []
                    continue
                if line.startswith(":"):
                    continue
                name, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if name == "event":
                    event = value
                elif name == "id":
                    mid = value
                elif name == "data":
                    data.append(value)
        except (OSError, ValueError, AttributeError, http.client.HTTPException):
            pass
        finally:
            with self.cond:
                self.ended = True
                self.cond.notify_all()

    def _dispatch(self, event, mid, data):
        body = json.loads(data)
        with self.cond:
            if event == "snapshot":
                self.seats = {s["id"]: s["status"] for s in body["seats"]}
            elif event == "seat.updated":
                for s in body["seats"]:
                    self.seats[s["id"]] = s["status"]
            self.messages.append((event, mid, body, time.monotonic()))
            self.cond.notify_all()

    def wait(self, pred, timeout=5.0):
        """Waits until pred(self) holds (checked under the lock); returns whether it did."""
        with self.cond:
            return self.cond.wait_for(lambda: pred(self), timeout)

    def of(self, event):
        with self.cond:
            return [m for m in self.messages if m[0] == event]

    def count(self, event):
        return len(self.of(event))

    def status_of(self, seat_id):
        with self.cond:
            return self.seats.get(seat_id)

    def kill(self):
        """Abrupt disconnect: RST, no FIN."""
        sock = self.conn.sock
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.conn.close()
        self.resp.close()

    def close(self):
        with contextlib.suppress(OSError):
            if self.conn.sock is not None:
                self.conn.sock.shutdown(socket.SHUT_RDWR)
        self.conn.close()


def metric(t, name, labels=None):
    text = t.get("/metrics").text
    want = "" if not labels else "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"
    for line in text.splitlines():
        if line.startswith(name + want + " "):
            return float(line.split()[-1])
    return 0.0


def wait_metric(t, name, ok, labels=None, timeout=5.0):
    deadline = time.time() + timeout
    while True:
        v = metric(t, name, labels)
        if ok(v) or time.time() >= deadline:
            return v
        time.sleep(0.05)


def db_statuses(event_id):
    return {r["id"]: r["status"] for r in db_json(
        "SELECT json_build_object('id', id, 'status', status)::text FROM event_seats"
        f" WHERE event_id = '{event_id}'")}


def has_snapshot(c):
    return any(m[0] == "snapshot" for m in c.messages)


# --------------------------------------------------------------------------------------------
# Contract
# --------------------------------------------------------------------------------------------

def test_snapshot_first_then_each_change_with_ids(ticketd):
    s = open_event(ticketd, sections=HALL_20)
    [buyer] = users(ticketd, 1)
    c = Sse(ticketd, s.eid, headers={"X-Request-Id": "sse-test-1"})
    try:
        assert c.status == 200
        assert c.headers["content-type"].startswith("text/event-stream")
        assert c.headers["cache-control"] == "no-cache, no-transform"
        assert c.headers["x-accel-buffering"] == "no"
        assert c.headers["x-request-id"] == "sse-test-1"
        assert c.wait(has_snapshot, 5)
        event, mid, snap, _ = c.messages[0]
        assert event == "snapshot" and mid
        assert snap["eventId"] == s.eid and isinstance(snap["version"], int)
        assert len(snap["seats"]) == 20
        assert all(set(x) == SNAPSHOT_SEAT_KEYS for x in snap["seats"])
        assert {x["status"] for x in snap["seats"]} == {"AVAILABLE"}
        assert [x["seatNo"] for x in snap["seats"][:3]] == ["1", "2", "3"]

        a1, a2 = s.seats["H-A-1"], s.seats["H-A-2"]
        r = created(reserve(ticketd, buyer, s.eid, seats=[a1, a2]))
        assert c.wait(lambda c: c.seats.get(a1) == "RESERVED" and c.seats.get(a2) == "RESERVED", 1.0)
        [(_, _, upd, _)] = c.of("seat.updated")
        assert set(upd) == {"eventId", "version", "type", "reservationId", "seats"}
        assert upd["eventId"] == s.eid and upd["type"] == "reservation.created"
        assert upd["reservationId"] == r["id"]
        assert {x["id"] for x in upd["seats"]} == {a1, a2}
        assert all(set(x) == UPDATE_SEAT_KEYS and x["reservedUntil"] for x in upd["seats"])

        assert cancel(ticketd, buyer["h"], r["id"]).status_code == 200
        assert c.wait(lambda c: c.seats.get(a1) == "AVAILABLE" and c.seats.get(a2) == "AVAILABLE", 1.0)
        assert c.of("seat.updated")[-1][2]["type"] == "reservation.cancelled"
        # An id on every message, increasing.
        ids = [int(m[1]) for m in c.messages if m[0] != "heartbeat"]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        assert all(m[1] for m in c.messages)
    finally:
        c.close()


def test_accept_header_and_last_event_id_get_a_fresh_snapshot(ticketd):
    s = open_event(ticketd, sections=HALL_20)
    [buyer] = users(ticketd, 1)
    first = Sse(ticketd, s.eid)
    assert first.wait(has_snapshot)
    last_id = first.messages[0][1]
    first.close()
    seat = s.seats["H-B-5"]
    created(reserve(ticketd, buyer, s.eid, seats=[seat]))
    again = Sse(ticketd, s.eid, headers={"Accept": "text/event-stream", "Last-Event-ID": last_id})
    try:
        assert again.status == 200
        assert again.wait(has_snapshot)
        assert again.messages[0][0] == "snapshot"
        assert again.status_of(seat) == "RESERVED"
        assert int(again.messages[0][1]) > int(last_id)
    finally:
        again.close()


def test_only_published_events_stream(ticketd):
    s = scenario(ticketd)
    for path in (s.event["id"], str(uuid.uuid4()), "not-a-uuid"):
        res = ticketd.get(f"{API}/events/{path}/stream")
        assert res.status_code == 404, res.text
        body = res.json()
        assert body["success"] is False and body["errors"][0]["code"] == "NOT_FOUND"
        assert res.headers["X-Request-Id"]
    publish(ticketd, s.admin, s.event["id"])
    c = Sse(ticketd, s.event["id"])
    try:
        assert c.status == 200 and c.wait(has_snapshot)
    finally:
        c.close()


def test_heartbeats_arrive_on_time():
    with running(SSE_HEARTBEAT_SECONDS="0.3") as t:
        s = open_event(t, sections=HALL_20)
        c = Sse(t, s.eid)
        try:
            assert c.wait(lambda c: c.count("heartbeat") >= 6, 4.0), c.messages
            beats = c.of("heartbeat")
            gaps = [b[3] - a[3] for a, b in zip(beats, beats[1:])]
            assert all(0.15 <= g <= 0.6 for g in gaps), gaps
            for _, mid, body, _ in beats:
                assert mid and body["eventId"] == s.eid and body["live"] is True and body["time"]
        finally:
            c.close()


# --------------------------------------------------------------------------------------------
# Fan-out
# --------------------------------------------------------------------------------------------

def test_a_reservation_on_instance_b_reaches_a_client_on_instance_a(ticketd):
    s = open_event(ticketd, sections=HALL_20)
    c = Sse(ticketd, s.eid)
    try:
        assert c.wait(has_snapshot)
        with running() as b:
            [buyer] = users(b, 1)
            seat = s.seats["H-A-7"]
            start = time.monotonic()
            created(reserve(b, buyer, s.eid, seats=[seat]))
            assert c.wait(lambda c: c.seats.get(seat) == "RESERVED", 1.0)
            assert time.monotonic() - start < 1.0
    finally:
        c.close()


def test_two_hundred_clients_half_drop_abruptly_the_rest_keep_receiving(ticketd):
    s = open_event(ticketd, sections=HALL_20)
    [buyer] = users(ticketd, 1)
    before = metric(ticketd, "ticketd_sse_streams_open")
    clients = [Sse(ticketd, s.eid) for _ in range(200)]
    try:
        assert all(c.status == 200 for c in clients)
        assert all(c.wait(has_snapshot, 10) for c in clients)
        assert wait_metric(ticketd, "ticketd_sse_streams_open", lambda v: v >= before + 200) >= before + 200
        gone, staying = clients[:100], clients[100:]
        for c in gone:
            c.kill()
        # Disconnects are noticed promptly (a pending read on each stream), not at the next write.
        v = wait_metric(ticketd, "ticketd_sse_streams_open", lambda v: v <= before + 100, timeout=3)
        assert v == before + 100, v
        seats = [s.seats["H-A-1"], s.seats["H-A-2"], s.seats["H-B-1"]]
        for seat in seats:
            created(reserve(ticketd, buyer, s.eid, seats=[seat]))
        for c in staying:
            assert c.wait(lambda c: all(c.seats.get(x) == "RESERVED" for x in seats), 2.0)
            assert not c.ended
    finally:
        for c in clients:
            c.close()


def test_no_update_is_lost_between_snapshot_and_subscription(ticketd):
    """Holds and cancels run without pause while clients connect; every client ends with the
    database's statuses."""
    s = open_event(ticketd, sections=HALL_20)
    buyers = users(ticketd, 2)
    ids = list(s.seats.values())
    stop = threading.Event()
    changes = [0]

    def churn(buyer):
        held = []
        rnd = random.Random()
        while not stop.is_set():
            if held and (len(held) > 6 or rnd.random() < 0.4):
                rid = held.pop(rnd.randrange(len(held)))
                if cancel(ticketd, buyer["h"], rid).status_code == 200:
                    changes[0] += 1
            else:
                res = reserve(ticketd, buyer, s.eid, seats=[rnd.choice(ids)])
                if res.status_code == 201:
                    held.append(res.json()["data"]["id"])
                    changes[0] += 1

    workers = [threading.Thread(target=churn, args=(b,), daemon=True) for b in buyers]
    for w in workers:
        w.start()
    clients = []
    try:
        for _ in range(40):
            clients.append(Sse(ticketd, s.eid))
            time.sleep(0.05)
        stop.set()
        for w in workers:
            w.join(30)
        assert changes[0] >= 20, changes  # the clients really connected during changes
        want = db_statuses(s.eid)
        for c in clients:
            assert c.wait(lambda c: c.seats == want, 3.0), (
                {k: (v, c.seats.get(k)) for k, v in want.items() if c.seats.get(k) != v})
    finally:
        stop.set()
        for c in clients:
            c.close()


def test_redis_restart_mid_stream_keeps_heartbeats_then_resyncs(services):
    """Redis stops while a client watches instance A; a hold made meanwhile on instance B cannot
    be announced. The stream keeps its heartbeats (live: false); a client joining during the outage
    gets the database's picture; once the link is back every client gets a fresh snapshot and
    updates flow again."""
    with running(SSE_HEARTBEAT_SECONDS="0.2") as t, running() as b:
        s = open_event(t, sections=HALL_20)
        [buyer] = users(t, 1)
        c = Sse(t, s.eid)
        try:
            assert c.wait(has_snapshot)
            t.wait_ready()
            services("stop", "redis")
            try:
                down_at = time.monotonic()
                seat = s.seats["H-A-3"]
                created(reserve(b, buyer, s.eid, seats=[seat]))
                assert c.wait(lambda c: any(m[0] == "heartbeat" and not m[2]["live"] and m[3] > down_at
                                            for m in c.messages), 5.0)
                beats_before = c.count("heartbeat")
                assert c.wait(lambda c: c.count("heartbeat") >= beats_before + 3, 3.0)
                assert c.status_of(seat) == "AVAILABLE"  # nobody could tell A
                # A client joining meanwhile reads the database, not A's stale picture (and so
                # does everyone on that feed).
                late = Sse(t, s.eid)
                assert late.wait(lambda c: c.seats.get(seat) == "RESERVED", 5.0)
                assert c.wait(lambda c: c.seats.get(seat) == "RESERVED", 5.0)
            finally:
                services("start", "redis")
            snapshots = c.count("snapshot")
            # The link returns (reconnect with backoff); a fresh snapshot carries what was missed.
            assert c.wait(lambda c: c.count("snapshot") > snapshots, 20.0), c.messages[-3:]
            assert c.status_of(seat) == "RESERVED"
            assert not c.ended
            b.wait_ready(timeout=30)  # B's command link (PUBLISH) is back too
            seat2 = s.seats["H-B-3"]
            created(reserve(b, buyer, s.eid, seats=[seat2]))
            assert c.wait(lambda c: c.seats.get(seat2) == "RESERVED", 1.0)
            assert c.wait(lambda c: c.messages[-1][0] == "heartbeat" and c.messages[-1][2]["live"], 1.0)
            assert late.wait(lambda c: c.seats.get(seat2) == "RESERVED", 1.0)
            late.close()
        finally:
            c.close()


# --------------------------------------------------------------------------------------------
# Limits, slow clients, shutdown
# --------------------------------------------------------------------------------------------

def test_streams_are_limited_per_address_and_per_instance():
    with running(SSE_MAX_STREAMS_PER_IP="2", SSE_MAX_STREAMS="3", RATE_LIMIT_ENABLED="true") as t:
        s = open_event(t, sections=HALL_20)
        a = [Sse(t, s.eid), Sse(t, s.eid)]
        try:
            assert [c.status for c in a] == [200, 200]
            third = Sse(t, s.eid)
            assert third.status == 429
            body = json.loads(third.body)
            assert body["success"] is False and body["errors"][0]["code"] == "TOO_MANY_STREAMS"
            assert int(third.headers["retry-after"]) > 0
            other = Sse(t, s.eid, source_ip="127.0.0.2")
            assert other.status == 200
            a.append(other)
            full = Sse(t, s.eid, source_ip="127.0.0.3")
            assert full.status == 503
            assert json.loads(full.body)["errors"][0]["code"] == "TOO_MANY_STREAMS"
            assert int(full.headers["retry-after"]) > 0
            assert metric(t, "ticketd_sse_streams_rejected_total", {"reason": "address"}) == 1
            assert metric(t, "ticketd_sse_streams_rejected_total", {"reason": "instance"}) == 1
            # A closed stream gives its slot back at once.
            a.pop(0).kill()
            assert wait_metric(t, "ticketd_sse_streams_open", lambda v: v == 2) == 2
            again = Sse(t, s.eid)
            assert again.status == 200
            a.append(again)
        finally:
            for c in a:
                c.close()


def test_streams_are_limited_per_user_and_every_client_cap_goes_with_rate_limit_enabled_false():
    with running(SSE_MAX_STREAMS_PER_USER="1", RATE_LIMIT_ENABLED="true") as t:
        s = open_event(t, sections=HALL_20)
        (buyer,) = users(t, 1)
        first = Sse(t, s.eid, headers=buyer["h"])
        try:
            assert first.status == 200
            # The same user from another address is still the same user.
            second = Sse(t, s.eid, headers=buyer["h"], source_ip="127.0.0.2")
            assert second.status == 429
            assert json.loads(second.body)["errors"][0]["code"] == "TOO_MANY_STREAMS"
            assert int(second.headers["retry-after"]) > 0
            assert metric(t, "ticketd_sse_streams_rejected_total", {"reason": "user"}) == 1
            anonymous = Sse(t, s.eid, source_ip="127.0.0.2")
            assert anonymous.status == 200
            anonymous.close()
        finally:
            first.close()

    # Limits off (load tests): neither the address nor the user cap applies, the instance's does.
    with running(SSE_MAX_STREAMS_PER_IP="1", SSE_MAX_STREAMS_PER_USER="1", SSE_MAX_STREAMS="3",
                 RATE_LIMIT_ENABLED="false") as t:
        s = open_event(t, sections=HALL_20)
        (buyer,) = users(t, 1)
        streams = [Sse(t, s.eid, headers=buyer["h"]) for _ in range(3)]
        try:
            assert [c.status for c in streams] == [200, 200, 200]
            assert Sse(t, s.eid).status == 503
        finally:
            for c in streams:
                c.close()


def test_address_and_user_caps_count_the_streams_of_every_instance():
    caps = {"RATE_LIMIT_ENABLED": "true", "SSE_MAX_STREAMS_PER_IP": "3", "SSE_MAX_STREAMS_PER_USER": "2"}
    ip = f"127.0.{random.randrange(1, 255)}.{random.randrange(2, 255)}"  # no other test's leases
    with running(**caps) as a, running(**caps) as b:
        s = open_event(a, sections=HALL_20)
        (buyer,) = users(a, 1)
        on_a = [Sse(a, s.eid, headers=buyer["h"], source_ip=ip)]
        try:
            on_b = Sse(b, s.eid, headers=buyer["h"], source_ip=ip)
            on_a.append(on_b)
            assert [c.status for c in on_a] == [200, 200]
            # One stream on each instance: the user's third is refused on either.
            elsewhere = f"127.0.{random.randrange(1, 255)}.{random.randrange(2, 255)}"
            third = Sse(b, s.eid, headers=buyer["h"], source_ip=elsewhere)
            assert third.status == 429 and json.loads(third.body)["errors"][0]["code"] == "TOO_MANY_STREAMS"
            assert int(third.headers["retry-after"]) > 0
            assert metric(b, "ticketd_sse_streams_rejected_total", {"reason": "shared"}) == 1
            # The address holds two; an anonymous third fits, a fourth does not, on either.
            anonymous = Sse(a, s.eid, source_ip=ip)
            on_a.append(anonymous)
            assert anonymous.status == 200
            assert Sse(b, s.eid, source_ip=ip).status == 429
            # A stream closed on one instance frees its place on the other.
            on_a.remove(on_b)
            on_b.kill()
            deadline = time.monotonic() + 5
            while True:
                again = Sse(b, s.eid, headers=buyer["h"], source_ip=ip)
                if again.status == 200:
                    on_a.append(again)
                    break
                assert time.monotonic() < deadline, again.status
                time.sleep(0.1)
        finally:
            for c in on_a:
                c.close()


def big_hall(rows=100, per_row=200):
    return [{"name": "Arena", "code": "AR", "sortOrder": 1,
             "rows": [{"name": f"R{i}", "sortOrder": i, "seatCount": per_row} for i in range(1, rows + 1)]}]


def test_a_client_that_does_not_read_is_dropped_alone():
    """20,000 seats make a ~2 MB snapshot: more than the socket buffers of a client with a tiny
    receive window, so its queue fills with heartbeats and passes the bound of 4."""
    with running(SSE_CLIENT_QUEUE_MAX="4", SSE_HEARTBEAT_SECONDS="0.05") as t:
        s = open_event(t, sections=big_hall())
        [buyer] = users(t, 1)
        healthy = Sse(t, s.eid)
        slow = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.connect(("127.0.0.1", t.port))
        slow.sendall(f"GET {API}/events/{s.eid}/stream HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        try:
            assert healthy.wait(has_snapshot, 10)
            dropped = wait_metric(t, "ticketd_sse_slow_clients_dropped_total", lambda v: v >= 1, timeout=10)
            assert dropped == 1
            assert metric(t, "ticketd_sse_streams_closed_total", {"reason": "slow"}) == 1
            # The slow connection was closed by the server: draining it ends in EOF.
            slow.settimeout(10)
            total = 0
            while True:
                chunk = slow.recv(1 << 16)
                if not chunk:
                    break
                total += len(chunk)
            assert total > 0
            # The others carry on.
            beats = healthy.count("heartbeat")
            seat = s.seats["AR-R1-1"] if "AR-R1-1" in s.seats else next(iter(s.seats.values()))
            created(reserve(t, buyer, s.eid, seats=[seat]))
            assert healthy.wait(lambda c: c.seats.get(seat) == "RESERVED" and c.count("heartbeat") > beats, 2.0)
            assert not healthy.ended
        finally:
            slow.close()
            healthy.close()


def test_shutdown_ends_streams_cleanly():
    t = instance(SHUTDOWN_TIMEOUT_MS="20000")
    s = open_event(t, sections=HALL_20)
    c = Sse(t, s.eid)
    assert c.wait(has_snapshot)
    start = time.monotonic()
    assert t.stop() == 0
    took = time.monotonic() - start
    assert took < 5, took  # not SHUTDOWN_TIMEOUT: the stream ended at once
    assert c.wait(lambda c: c.ended, 2.0)
    msgs = [r.get("message") for r in t.log_records()]
    assert "live seat maps stopped" in msgs
    assert re.search(r'"openConnections":0', "".join(t.lines))
