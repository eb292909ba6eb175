"""Rate limits and load shedding, black box: token buckets shared through Redis (RateLimit-*
headers, 429 RATE_LIMITED with Retry-After), the failed-login limit per e-mail address, the
per-instance fallback while Redis is down, and 503 SERVER_BUSY at once past a class's bound on
requests in flight.

Each test's clients come from addresses of their own (X-Forwarded-For through TRUSTED_PROXIES, as
behind a load balancer), so buckets left in Redis by another test or an earlier run never meet
them; that is also how a botnet of many addresses is simulated.
"""
import contextlib
import http.client
import json
import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import requests

from conftest import running_ticketd
from test_auth import email
from test_reservations import BASE_ENV, HALL_20, open_event, reserve

API = "/api/v1"
PASSWORD = "correct horse"
# Helpers such as open_event() register from 127.0.0.1 itself: its budgets are generous here, the
# limits under test are set per test and met from addresses of the test's own.
LIMITS_ON = {**BASE_ENV, "RATE_LIMIT_ENABLED": "true", "TRUSTED_PROXIES": "127.0.0.1",
             "RATE_LIMIT_AUTH_IP": "1000/1m", "RATE_LIMIT_API_IP": "100000/1m"}


@contextlib.contextmanager
def running(**env):
    """An instance whose limits are decided in Redis from its first request (ready: linked)."""
    with running_ticketd({**LIMITS_ON, **env}) as t:
        t.wait_ready(timeout=30)
        yield t


def address():
    return f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"


def via(ip, headers=None):
    return {**(headers or {}), "X-Forwarded-For": ip}


def register(t, ip, addr=None, password=PASSWORD):
    return t.post(f"{API}/auth/register", json={"email": addr or email(), "password": password},
                  headers=via(ip))


def login(t, ip, addr, password=PASSWORD):
    return t.post(f"{API}/auth/login", json={"email": addr, "password": password},
                  headers=via(ip))


def code(res):
    return res.json()["errors"][0]["code"]


def metric(t, name, labels):
    text = t.get("/metrics").text
    want = name + "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "} "
    for line in text.splitlines():
        if line.startswith(want):
            return float(line.split()[-1])
    return 0.0


def refresh(t, ip):
    """An auth-class request that costs no password hashing (the token is bogus: 401)."""
    return t.post(f"{API}/auth/refresh", json={"refreshToken": "bogus"}, headers=via(ip))


def test_a_class_limit_is_hit_with_headers_and_resets_after_retry_after():
    # 3 per 3 s: a burst of 3, then one more per second.
    with running(RATE_LIMIT_AUTH_IP="3/3s", RATE_LIMIT_API_IP="50/1m") as t:
        ip = address()
        answers = [refresh(t, ip) for _ in range(3)]
        assert [r.status_code for r in answers] == [401, 401, 401]
        assert [r.headers["RateLimit-Limit"] for r in answers] == ["3", "3", "3"]
        assert [r.headers["RateLimit-Remaining"] for r in answers] == ["2", "1", "0"]
        assert all(1 <= int(r.headers["RateLimit-Reset"]) <= 3 for r in answers)

        refused = refresh(t, ip)
        assert refused.status_code == 429, refused.text
        body = refused.json()
        assert body["success"] is False and code(refused) == "RATE_LIMITED"
        assert body["meta"]["requestId"] == refused.headers["X-Request-Id"]
        retry = int(refused.headers["Retry-After"])
        assert retry == 1
        assert refused.headers["RateLimit-Remaining"] == "0"
        assert metric(t, "ticketd_rate_limited_total", {"class": "auth"}) == 1

        # Another address has its own bucket; this one refills after Retry-After.
        assert refresh(t, address()).status_code == 401
        time.sleep(retry + 0.1)
        assert register(t, ip).status_code == 201
        # The general per-address budget applies to every class and is reported where it is the
        # emptier bucket: 50 per minute, 5 spent above (the refusal spent nothing), about one
        # refilled meanwhile.
        listing = t.get(f"{API}/events", headers=via(ip))
        assert listing.status_code == 200
        assert listing.headers["RateLimit-Limit"] == "50"
        assert 45 <= int(listing.headers["RateLimit-Remaining"]) <= 47
        # Operations are never limited.
        assert "RateLimit-Limit" not in t.get("/health/live", headers=via(ip)).headers


def test_the_client_address_comes_from_x_forwarded_for_only_through_a_trusted_proxy():
    with running(RATE_LIMIT_AUTH_IP="1/1m", TRUSTED_PROXIES="") as t:
        # From an untrusted peer the header is ignored: inventing addresses buys nothing. The peer
        # is a loopback address of this test's own, so no other test shares its bucket.
        peer = f"127.{random.randrange(1, 255)}.{random.randrange(256)}.{random.randrange(1, 255)}"
        statuses = []
        for _ in range(2):
            conn = http.client.HTTPConnection("127.0.0.1", t.port, timeout=10, source_address=(peer, 0))
            conn.request("POST", f"{API}/auth/refresh", body=json.dumps({"refreshToken": "bogus"}),
                         headers={"Content-Type": "application/json", "X-Forwarded-For": address()})
            statuses.append(conn.getresponse().status)
            conn.close()
        assert statuses == [401, 429]


def test_failed_logins_are_limited_per_email_address_across_addresses():
    with running(RATE_LIMIT_LOGIN_FAILURES_EMAIL="3/1m") as t:
        victim = email()
        assert register(t, address(), victim).status_code == 201
        bystander = email()
        assert register(t, address(), bystander).status_code == 201

        # A botnet: every guess from a new address.
        for _ in range(3):
            guess = login(t, address(), victim, "wrong password")
            assert guess.status_code == 401 and code(guess) == "INVALID_CREDENTIALS"
        started = time.monotonic()
        locked = login(t, address(), victim)
        assert locked.status_code == 429, locked.text
        assert code(locked) == "RATE_LIMITED"
        assert int(locked.headers["Retry-After"]) >= 15
        # Refused before any password hashing: far faster than a verification.
        assert time.monotonic() - started < 1.0
        # Only that address is locked; successful logins spend nothing.
        for _ in range(4):
            assert login(t, address(), bystander).status_code == 200


def test_reserve_is_limited_per_user_whatever_the_address():
    with running(RATE_LIMIT_RESERVE_USER="2/1m", RESERVATION_MAX_ACTIVE_PER_USER_EVENT="10") as t:
        ev = open_event(t, sections=HALL_20)
        seats = sorted(ev.seats.values())
        token = register(t, address()).json()["data"]["accessToken"]
        buyer = {"h": {"Authorization": f"Bearer {token}"}}
        other_token = register(t, address()).json()["data"]["accessToken"]
        other = {"h": {"Authorization": f"Bearer {other_token}"}}
        answers = [reserve(t, buyer, ev.eid, seats=[seats[i]], headers=via(address())) for i in range(3)]
        assert [r.status_code for r in answers] == [201, 201, 429], [r.text for r in answers]
        assert code(answers[2]) == "RATE_LIMITED"
        assert answers[1].headers["RateLimit-Limit"] == "2"
        assert int(answers[2].headers["Retry-After"]) == 30
        assert metric(t, "ticketd_rate_limited_total", {"class": "reserve"}) == 1
        assert reserve(t, other, ev.eid, seats=[seats[5]], headers=via(address())).status_code == 201


def test_with_redis_down_limits_hold_per_instance_then_are_shared_again(services):
    with running(RATE_LIMIT_AUTH_IP="2/1m") as t:
        ip = address()
        services("stop", "redis")
        try:
            answers = [register(t, ip) for _ in range(3)]
            # Neither unlimited nor refusing everyone.
            assert [r.status_code for r in answers] == [201, 201, 429], [r.text for r in answers]
            text = t.get("/metrics").text
            assert "ticketd_rate_limit_degraded 1" in text
            assert "ticketd_rate_limit_local_decisions_total 3" in text
            assert register(t, address()).status_code == 201
        finally:
            services("start", "redis")
        t.wait_ready(timeout=30)
        deadline = time.monotonic() + 10
        while "ticketd_rate_limit_degraded 0" not in t.get("/metrics").text:
            assert time.monotonic() < deadline, "the limiter did not return to Redis"
            register(t, address())
            time.sleep(0.2)
        logs = [r.get("message") for r in t.log_records()]
        assert "rate limits fall back to per-instance buckets" in logs
        assert "rate limits are shared through Redis again" in logs


def test_a_class_past_its_bound_in_flight_is_shed_at_once_with_503():
    # Registration hashes a password (tens of milliseconds): 24 at once against a bound of 2.
    with running(RATE_LIMIT_ENABLED="false", HTTP_MAX_IN_FLIGHT_AUTH="2") as t:
        barrier = threading.Barrier(24)

        def one(_):
            with requests.Session() as s:
                barrier.wait()
                started = time.monotonic()
                res = s.post(t.url(f"{API}/auth/register"),
                             json={"email": email(), "password": PASSWORD}, timeout=60)
                return res, time.monotonic() - started

        with ThreadPoolExecutor(24) as pool:
            results = list(pool.map(one, range(24)))
        statuses = Counter(r.status_code for r, _ in results)
        assert set(statuses) == {201, 503}, statuses
        shed = [(r, took) for r, took in results if r.status_code == 503]
        for r, took in shed:
            assert code(r) == "SERVER_BUSY" and r.headers["Retry-After"] == "1"
            assert took < 1.0, took  # answered at once, not after queueing
        assert metric(t, "ticketd_shed_total", {"class": "auth"}) == len(shed)
        # Other classes are not affected by a full auth class.
        assert t.get(f"{API}/events").status_code == 200


def test_reserve_against_a_saturated_pool_answers_503_at_once_never_500():
    """One connection, a 1 ms hot wait: requests are shed at the door once the expected wait for the
    connection passes a quarter of it (SERVER_BUSY), or give up in the pool (DB_POOL_TIMEOUT)."""
    with running(RATE_LIMIT_ENABLED="false", DATABASE_POOL_SIZE="1", DATABASE_POOL_HOT_TIMEOUT_MS="1",
                 RESERVATION_MAX_ACTIVE_PER_USER_EVENT="100") as t:
        ev = open_event(t, sections=HALL_20)
        token = register(t, address()).json()["data"]["accessToken"]
        buyer = {"h": {"Authorization": f"Bearer {token}"}}
        seats = sorted(ev.seats.values())
        barrier = threading.Barrier(20)

        def one(i):
            with requests.Session() as s:
                barrier.wait()
                return reserve(t, buyer, ev.eid, seats=[seats[i]], session=s)

        with ThreadPoolExecutor(20) as pool:
            results = list(pool.map(one, range(20)))
        statuses = Counter(r.status_code for r in results)
        assert set(statuses) == {201, 503}, statuses
        for r in results:
            if r.status_code == 503:
                assert code(r) in ("SERVER_BUSY", "DB_POOL_TIMEOUT") and int(r.headers["Retry-After"]) >= 1
