"""The flash-sale waiting room, black box: per-event queue settings, joining and polling
(POST /events/:eventId/queue), admission in join order at the event's rate, a shuffle among buyers
who joined before the sale opened, signed admission tokens bound to user and event, sold out and
back, AUTO mode, two instances sharing one line, and Redis down.

Every instance shares BASE_ENV's JWT secret: tokens (and admission tokens, derived from it) work on
all of them, and the tests can sign tokens of their own to prove what is refused.
"""
import hashlib
import hmac
import time
from datetime import datetime, timedelta, timezone

import pytest

from conftest import running_ticketd
from layout import API, patch
from test_reservations import BASE_ENV, HALL_20, cancel, created, open_event, reserve, users

QUEUE_ENV = {**BASE_ENV, "WORKERS_ENABLED": "false", "RESERVATION_MAX_ACTIVE_PER_USER_EVENT": "10"}
PLACE_KEYS = {"status", "position", "estimatedWaitSeconds", "retryAfterMs", "admissionToken",
              "admissionExpiresAt"}


def running(**env):
    return running_ticketd({**QUEUE_ENV, **env})


@pytest.fixture(scope="module")
def ticketd():
    with running() as t:
        yield t


def set_queue(t, s, **fields):
    res = patch(t, f"{API}/events/{s.eid}", json=fields, headers=s.admin["h"])
    assert res.status_code == 200, res.text
    return res.json()["data"]


def join(t, who, event_id):
    res = t.post(f"{API}/events/{event_id}/queue", headers=who["h"])
    assert res.status_code == 200, res.text
    place = res.json()["data"]
    assert set(place) == PLACE_KEYS, place
    return place


def admitted(t, who, event_id, timeout=15):
    deadline = time.monotonic() + timeout
    while True:
        place = join(t, who, event_id)
        if place["status"] == "ADMITTED":
            return place
        assert time.monotonic() < deadline, place
        time.sleep(0.1)


def sign(user_id, event_id, expires_ms):
    """An admission token as the server makes them (the test knows the shared secret)."""
    key = hmac.new(BASE_ENV["JWT_SECRET"].encode(), b"ticketd waiting-room admission tokens v1",
                   hashlib.sha256).hexdigest()
    mac = hmac.new(key.encode(), f"{user_id}|{event_id}|{expires_ms}".encode(), hashlib.sha256).hexdigest()
    return f"{expires_ms}.{mac}"


def code(res):
    return res.json()["errors"][0]["code"]


def kendall_tau(order):
    """Kendall's tau between 0..n-1 and `order` (1: same order, -1: reversed)."""
    n = len(order)
    concordant = sum(1 for i in range(n) for j in range(i + 1, n) if order[i] < order[j])
    pairs = n * (n - 1) // 2
    return (2 * concordant - pairs) / pairs


def iso(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%S.000Z")


# --------------------------------------------------------------------------------------------

def test_staff_set_the_queue_and_everyone_sees_its_mode(ticketd):
    s = open_event(ticketd, sections=HALL_20)
    shown = ticketd.get(f"{API}/events/{s.eid}").json()["data"]
    assert shown["queueMode"] == "OFF" and shown["queueAdmitPerSecond"] == 50
    assert shown["queueAutoThresholdPerSecond"] == 200
    data = set_queue(ticketd, s, queueMode="ON", queueAdmitPerSecond=7, queueAutoThresholdPerSecond=90)
    assert (data["queueMode"], data["queueAdmitPerSecond"], data["queueAutoThresholdPerSecond"]) == ("ON", 7, 90)
    assert ticketd.get(f"{API}/events/{s.eid}").json()["data"]["queueMode"] == "ON"
    for bad in ({"queueMode": "SOMETIMES"}, {"queueAdmitPerSecond": 0}, {"queueAdmitPerSecond": "5"},
                {"queueAutoThresholdPerSecond": 10_000_000}):
        res = patch(ticketd, f"{API}/events/{s.eid}", json=bad, headers=s.admin["h"])
        assert res.status_code in (400, 422), (bad, res.text)
    (buyer,) = users(ticketd, 1)
    res = patch(ticketd, f"{API}/events/{s.eid}", json={"queueMode": "OFF"}, headers=buyer["h"])
    assert res.status_code in (403, 404)


def test_without_a_queue_joining_says_open_and_reserving_needs_no_token(ticketd):
    s = open_event(ticketd, sections=HALL_20)
    (buyer,) = users(ticketd, 1)
    place = join(ticketd, buyer, s.eid)
    assert place["status"] == "OPEN" and place["admissionToken"] is None
    created(reserve(ticketd, buyer, s.eid, seats=[s.seats["H-A-1"]]))
    assert ticketd.post(f"{API}/events/{s.eid}/queue").status_code == 401
    assert ticketd.post(f"{API}/events/{'0' * 8}-0000-0000-0000-{'0' * 12}/queue",
                        headers=buyer["h"]).status_code == 404
    draft = open_event(ticketd, sections=HALL_20, publish_it=False)
    assert ticketd.post(f"{API}/events/{draft.eid}/queue", headers=buyer["h"]).status_code == 404


def test_buyers_joining_after_the_sale_opened_are_admitted_in_join_order_at_the_rate(ticketd):
    s = open_event(ticketd, sections=HALL_20)
    set_queue(ticketd, s, queueMode="ON", queueAdmitPerSecond=10)
    buyers = users(ticketd, 30)
    started = time.monotonic()
    first = [join(ticketd, b, s.eid) for b in buyers]
    positions = [p["position"] for p in first if p["status"] == "WAITING"]
    # Never better than someone who joined earlier; equal when admission moved on between two
    # joins (positions count those still ahead, on a slow machine joins take a while).
    assert positions == sorted(positions)
    waiting = [p for p in first if p["status"] == "WAITING"]
    assert waiting and all(p["estimatedWaitSeconds"] >= 1 for p in waiting)
    # Ask again when the turn should come at 10 a second (+100 ms), within 250 ms .. 10 s.
    assert all(p["retryAfterMs"] == min(10000, max(250, p["position"] * 100 + 100)) for p in waiting), waiting

    admitted_at = [None] * len(buyers)
    while None in admitted_at:
        assert time.monotonic() - started < 20, admitted_at
        for i, b in enumerate(buyers):
            if admitted_at[i] is None and join(ticketd, b, s.eid)["status"] == "ADMITTED":
                admitted_at[i] = time.monotonic() - started
        # Always a prefix of the line: nobody is admitted before someone who joined earlier.
        done = [a is not None for a in admitted_at]
        assert done == sorted(done, reverse=True), admitted_at
        time.sleep(0.1)
    # 30 buyers at 10 per second: the last one about 3 s after the first joins, not at once.
    assert admitted_at[-1] >= 1.5, admitted_at
    # Polling again changes nothing: the same token, the same expiry.
    again = [join(ticketd, buyers[0], s.eid) for _ in range(2)]
    assert again[0]["admissionToken"] == again[1]["admissionToken"] is not None


def test_buyers_who_join_before_the_sale_opens_are_shuffled_then_later_ones_queue_behind(ticketd):
    taus = []
    for _ in range(3):
        buyers = users(ticketd, 12)
        opens = datetime.now(timezone.utc) + timedelta(seconds=8)
        s = open_event(ticketd, sections=HALL_20, salesStartAt=iso(opens))
        set_queue(ticketd, s, queueMode="ON", queueAdmitPerSecond=100)
        for b in buyers:
            place = join(ticketd, b, s.eid)
            assert place["status"] == "WAITING", place
            assert place["estimatedWaitSeconds"] >= 1
        ranks = [join(ticketd, b, s.eid)["position"] for b in buyers]
        assert sorted(ranks) == list(range(1, 13)), ranks
        taus.append(kendall_tau(ranks))
        while datetime.now(timezone.utc) < opens + timedelta(milliseconds=300):
            time.sleep(0.1)
        (late,) = users(ticketd, 1)
        admitted(ticketd, late, s.eid)
        # Admission is a prefix of the line: the one who joined after the opening comes last.
        assert all(join(ticketd, b, s.eid)["status"] == "ADMITTED" for b in buyers)
    # Join order predicts nothing: a random order has tau near 0 (sd ~0.22 for 12); join order is 1.
    assert sum(taus) / len(taus) < 0.6, taus
    assert all(t < 0.9 for t in taus), taus


def test_admission_tokens_are_bound_to_user_and_event_verified_without_the_queue_and_expire(ticketd):
    s = open_event(ticketd, sections=HALL_20)
    other = open_event(ticketd, base=s)
    set_queue(ticketd, s, queueMode="ON", queueAdmitPerSecond=1000)
    set_queue(ticketd, other, queueMode="ON", queueAdmitPerSecond=1000)
    a, b = users(ticketd, 2)

    refused = reserve(ticketd, a, s.eid, seats=[s.seats["H-A-1"]])
    assert refused.status_code == 429 and code(refused) == "QUEUE_REQUIRED"
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.json()["data"]["position"] is None  # not in line yet

    token = admitted(ticketd, a, s.eid)["admissionToken"]
    # One digit of the signature changed; it must differ from the original (1 in 16 ends in "0").
    tampered = token[:-1] + ("1" if token.endswith("0") else "0")
    for who, event, tok in ((b, s.eid, token), (a, other.eid, token), (a, s.eid, tampered),
                            (a, s.eid, "garbage"), (a, s.eid, sign(a["id"], s.eid, int(time.time() * 1000) - 1))):
        res = reserve(ticketd, who, event, seats=[(s if event == s.eid else other).seats["H-A-2"]],
                      admissionToken=tok)
        assert res.status_code == 429 and code(res) == "QUEUE_REQUIRED", (tok, res.text)
    # A token made with the server's key for a later expiry is what the server made: accepted.
    future = sign(a["id"], s.eid, int(time.time() * 1000) + 60_000)
    created(reserve(ticketd, a, s.eid, seats=[s.seats["H-A-3"]], admissionToken=future))
    created(reserve(ticketd, a, s.eid, seats=[s.seats["H-A-4"]], headers={"X-Admission-Token": token}))
    assert created(reserve(ticketd, a, s.eid, seats=[s.seats["H-A-5"]], admissionToken=token))


def test_sold_out_is_reported_while_nothing_is_left_and_admission_resumes_when_seats_return():
    with running() as t:
        s = open_event(t, sections=[{"name": "Tiny", "code": "T", "sortOrder": 1,
                                     "rows": [{"name": "A", "sortOrder": 1, "seatCount": 2}]}])
        set_queue(t, s, queueMode="ON", queueAdmitPerSecond=1000)
        a, c = users(t, 2)
        token = admitted(t, a, s.eid)["admissionToken"]
        held = created(reserve(t, a, s.eid, seats=list(s.seats.values()), admissionToken=token))
        # The sale state is reused for a second, then refreshed behind the next request that reads
        # it (here a reserve that finds nothing left).
        time.sleep(1.1)
        assert reserve(t, a, s.eid, seats=list(s.seats.values())[:1], admissionToken=token).status_code == 409
        time.sleep(0.5)
        place = join(t, c, s.eid)
        assert place["status"] == "SOLD_OUT", place
        assert place["position"] == 1 and place["admissionToken"] is None, place
        assert place["retryAfterMs"] >= 1000
        assert cancel(t, a["h"], held["id"]).status_code == 200
        assert admitted(t, c, s.eid, timeout=5)["admissionToken"]


def test_auto_turns_the_queue_on_above_the_attempt_rate_and_off_once_nobody_waits():
    with running() as t:
        s = open_event(t, sections=HALL_20)
        set_queue(t, s, queueMode="AUTO", queueAutoThresholdPerSecond=3, queueAdmitPerSecond=1000)
        buyers = users(t, 12)
        (quiet,) = users(t, 1)
        assert join(t, quiet, s.eid)["status"] == "OPEN"  # not running yet: nobody is added
        seats = sorted(s.seats.values())
        answers = [reserve(t, b, s.eid, seats=[seats[i]]) for i, b in enumerate(buyers)]
        statuses = [r.status_code for r in answers]
        # The first three of any second pass; more than three in one second start the queue.
        assert statuses[:3] == [201, 201, 201], statuses
        assert 429 in statuses and code(answers[statuses.index(429)]) == "QUEUE_REQUIRED", statuses
        assert set(statuses) <= {201, 429}, statuses
        # Once running, nobody gets in without a token until it stops.
        first_refused = statuses.index(429)
        assert set(statuses[first_refused:]) == {429}, statuses
        waiting = [i for i, r in enumerate(answers) if r.status_code == 429]
        for i in waiting[:3]:
            place = admitted(t, buyers[i], s.eid)
            created(reserve(t, buyers[i], s.eid, seats=[seats[i]], admissionToken=place["admissionToken"]))
        for i in waiting[3:]:
            admitted(t, buyers[i], s.eid)
        # Everyone in line was admitted and no second was busy for 5 s: the queue stops.
        time.sleep(5.5)
        created(reserve(t, quiet, s.eid, seats=[seats[19]]))
        assert join(t, quiet, s.eid)["status"] == "OPEN"


def pool_acquisitions(t):
    """Connections handed out by the database pool so far (every query takes one)."""
    lines = [line for line in t.get("/metrics").text.splitlines()
             if line.startswith("ticketd_db_pool_acquire_seconds_count")]
    return sum(float(line.split()[-1]) for line in lines)


def test_polling_costs_no_database_round_trip_and_a_revoked_session_still_cannot_reserve(ticketd):
    s = open_event(ticketd, sections=HALL_20)
    set_queue(ticketd, s, queueMode="ON", queueAdmitPerSecond=1000)
    buyers = users(ticketd, 12)
    join(ticketd, buyers[0], s.eid)  # loads the event's queue settings once
    time.sleep(1.2)  # no buyer's rights are cached any more (AUTH_CACHE_TTL_MS is 1 s)
    before = pool_acquisitions(ticketd)
    for _ in range(5):
        for b in buyers:
            join(ticketd, b, s.eid)
    # 60 polls of 12 buyers: at most the settings' refresh (about once a second) used the pool,
    # not a rights lookup per buyer.
    assert pool_acquisitions(ticketd) - before <= 4

    # Polls know the caller by the signed token alone; the reserve authenticates fully.
    gone = buyers[1]
    assert ticketd.post(f"{API}/auth/logout", headers=gone["h"]).status_code == 204
    token = admitted(ticketd, gone, s.eid)["admissionToken"]
    res = reserve(ticketd, gone, s.eid, seats=[s.seats["H-A-1"]], admissionToken=token)
    assert res.status_code == 401 and code(res) == "INVALID_TOKEN", res.text


def test_two_instances_share_one_line_and_accept_each_others_tokens(ticketd):
    with running() as other:
        s = open_event(ticketd, sections=HALL_20)
        set_queue(ticketd, s, queueMode="ON", queueAdmitPerSecond=1)
        buyers = users(ticketd, 6)
        places = [join(ticketd if i % 2 == 0 else other, b, s.eid) for i, b in enumerate(buyers)]
        waiting = [p["position"] for p in places if p["status"] == "WAITING"]
        assert waiting == sorted(waiting) and len(waiting) >= 4, places
        token = admitted(other, buyers[0], s.eid)["admissionToken"]
        created(reserve(ticketd, buyers[0], s.eid, seats=[s.seats["H-A-1"]], admissionToken=token))


def test_with_redis_down_joining_answers_503_and_tokens_already_given_keep_working(services):
    with running() as t:
        s = open_event(t, sections=HALL_20)
        set_queue(t, s, queueMode="ON", queueAdmitPerSecond=1000)
        a, b = users(t, 2)
        token = admitted(t, a, s.eid)["admissionToken"]
        services("stop", "redis")
        try:
            res = t.post(f"{API}/events/{s.eid}/queue", headers=b["h"])
            assert res.status_code == 503 and code(res) == "QUEUE_UNAVAILABLE", res.text
            assert int(res.headers["Retry-After"]) >= 1
            created(reserve(t, a, s.eid, seats=[s.seats["H-A-1"]], admissionToken=token))
            refused = reserve(t, b, s.eid, seats=[s.seats["H-A-2"]])
            assert refused.status_code == 429 and code(refused) == "QUEUE_REQUIRED"
            assert refused.json()["data"]["position"] is None
        finally:
            services("start", "redis")
        t.wait_ready(timeout=30)
