"""Two instances behind HAProxy (deploy/haproxy.cfg), as `make run-cluster` runs them: purchases and
a live seat-map stream go through the balancer during a rolling restart (each instance stopped and
started again in turn), and the client address ticketd sees is the real one.
"""
import os
import socket
import subprocess
import threading
import time
import uuid

import pytest
import requests

from conftest import ROOT, Ticketd
from layout import API
from test_payments import ENV
from test_purchases import HALL_200, exactly_once
from test_reservations import open_event, users
from test_stream import Sse


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Balancer:
    """HAProxy with the repository's configuration, and the interface the test helpers use."""

    def __init__(self, backends):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "BALANCER_BIND": f"127.0.0.1:{self.port}",
               "TICKETD_1": backends[0], "TICKETD_2": backends[1]}
        self.proc = subprocess.Popen(["haproxy", "-f", os.path.join(ROOT, "deploy", "haproxy.cfg"), "-db"],
                                     env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.session = requests.Session()
        deadline = time.time() + 20
        while True:
            try:
                if self.get("/health/ready").status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.time() < deadline and self.proc.poll() is None, "haproxy did not come up"
            time.sleep(0.2)

    def url(self, path):
        return self.base + path

    def get(self, path, **kw):
        return self.session.get(self.url(path), timeout=30, **kw)

    def post(self, path, **kw):
        return self.session.post(self.url(path), timeout=30, **kw)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


class Instances:
    """Two ticketd processes on fixed ports (a restart must come back where the balancer looks)."""

    def __init__(self):
        self.ports = [free_port(), free_port()]
        self.procs = [self.start(i) for i in range(2)]

    def start(self, i):
        t = Ticketd({**ENV, "PORT": str(self.ports[i]), "TRUSTED_PROXIES": "127.0.0.1"})
        t.wait_ready(90)
        return t

    def restart(self, i):
        assert self.procs[i].stop() == 0, "".join(self.procs[i].lines[-20:])
        self.procs[i] = self.start(i)

    def records(self):
        return [r for t in self.procs for r in t.log_records()]


@pytest.fixture(scope="module")
def cluster():
    instances = Instances()
    balancer = Balancer([f"127.0.0.1:{p}" for p in instances.ports])
    yield instances, balancer
    balancer.stop()
    for t in instances.procs:
        assert t.stop() == 0, "".join(t.lines[-20:])


class Stream:
    """A live seat map through the balancer that reconnects (with Last-Event-ID, as EventSource does)
    whenever its connection ends; counts the connections it needed."""

    def __init__(self, balancer, event_id):
        self.balancer, self.event_id = balancer, event_id
        self.connections = 0
        self.attempts = 0
        self.seats = {}
        self.stopping = False
        self.current = None
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        last_id = None
        while not self.stopping:
            headers = {"Accept": "text/event-stream"}
            if last_id:
                headers["Last-Event-ID"] = last_id
            self.attempts += 1
            try:
                sse = Sse(self.balancer, self.event_id, headers=headers, timeout=60)
            except OSError:
                time.sleep(0.1)
                continue
            if sse.status != 200:
                time.sleep(0.2)
                continue
            self.connections += 1
            self.current = sse
            while not sse.wait(lambda s: s.ended, timeout=0.5):
                self.seats = dict(sse.seats)
                if self.stopping:
                    sse.close()
                    return
            self.seats = dict(sse.seats)
            ids = [m[1] for m in sse.messages if m[1]]
            last_id = ids[-1] if ids else last_id

    def stop(self):
        self.stopping = True
        self.thread.join(10)


def test_purchases_and_a_live_seat_map_survive_a_rolling_restart_behind_the_balancer(cluster):
    instances, balancer = cluster
    s = open_event(balancer, sections=HALL_200)
    buyers = users(balancer, 4)
    seat_ids = sorted(s.seats.values())[:24]
    stream = Stream(balancer, s.eid)
    failures, pids = [], []

    def purchase(i):
        who = buyers[i % len(buyers)]
        session = requests.Session()
        res = session.post(balancer.url(f"{API}/reservations"), headers=who["h"], timeout=60,
                           json={"eventId": s.eid, "seatIds": [seat_ids[i]], "idempotencyKey": uuid.uuid4().hex})
        if res.status_code != 201:
            return failures.append(("reserve", res.status_code, res.text))
        res = session.post(balancer.url(f"{API}/payments"), headers=who["h"], timeout=60,
                           json={"reservationId": res.json()["data"]["id"]})
        if res.status_code != 201:
            return failures.append(("pay", res.status_code, res.text))
        pid = res.json()["data"]["id"]
        res = session.post(balancer.url(f"{API}/dev/payments/{pid}/complete"), headers=who["h"],
                           timeout=60, json={"outcome": "SUCCEEDED"})
        if res.status_code != 200:
            return failures.append(("complete", res.status_code, res.text))
        pids.append(pid)

    # Purchases keep coming while each instance in turn is stopped (gracefully) and started again.
    buying = threading.Thread(target=lambda: [purchase(i) or time.sleep(0.25) for i in range(len(seat_ids))])
    buying.start()
    time.sleep(1)
    instances.restart(0)
    instances.restart(1)
    buying.join(180)
    assert failures == [], failures
    exactly_once(pids, s.eid, timeout=60)

    # The stream ends with what the database says. It reconnected at most once per restart (a
    # restart of the instance that held it), and each reconnect succeeded at once: the balancer
    # never sent it to the instance that was down.
    sold = set(seat_ids)
    deadline = time.time() + 10
    while time.time() < deadline and any(stream.seats.get(x) != "SOLD" for x in sold):
        time.sleep(0.2)
    stream.stop()
    assert all(stream.seats.get(x) == "SOLD" for x in sold), {x: stream.seats.get(x) for x in sold}
    assert sum(1 for x, st in stream.seats.items() if st == "SOLD") == len(sold)
    assert 1 <= stream.connections <= 3, stream.connections
    assert stream.attempts == stream.connections, (stream.attempts, stream.connections)


def test_ticketd_sees_the_clients_address_and_not_a_forged_one(cluster):
    instances, balancer = cluster
    # The client on 127.0.0.2; the balancer on 127.0.0.1 is the only trusted proxy.
    for forged in (None, "203.0.113.7"):
        rid = "ip-" + uuid.uuid4().hex
        headers = {"X-Request-Id": rid}
        if forged:
            headers["X-Forwarded-For"] = forged
        sse = Sse(balancer, str(uuid.uuid4()), headers=headers, source_ip="127.0.0.2", read=False)
        assert sse.status == 404  # an unknown event: answered and logged like any request
        deadline = time.time() + 5
        seen = []
        while time.time() < deadline and not seen:
            seen = [r.get("ip") for r in instances.records() if r.get("requestId") == rid]
            time.sleep(0.1)
        assert seen == ["127.0.0.2"], (forged, seen)
