"""Reservations (holds) end to end: concurrency, idempotency, expiry, cancel, visibility and rules.

Contract: openapi/openapi.yaml (/reservations).

Every instance this module starts shares one JWT secret (tokens work on all of them), has rate
limits off and waits as long for a database connection on reserve as elsewhere: these tests count
every answer as a win or a refusal, while overload answers (503 past a short pool wait) have their
own tests in test_limits.py. The module's own `ticketd` instance runs no background workers: every instance shares
the test database, so a worker anywhere would expire any lapsed hold, and the worker-off test needs
no worker at all. Tests that need expiry start their own instances with workers and a short TTL.
"""
import random
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
import requests

from conftest import Ticketd, running_ticketd
from layout import (API, PASSWORD, add_member, all_seats, db_json, errors, get_event, make_event,
                    patch_seats, poll, publish, scenario, set_status, ts)
from test_auth import bearer, email
from test_orgs import codes, make_org, user

TTL = 300  # RESERVATION_TTL_SECONDS default (.env.example)
SEAT_PRICE, SEAT_FEES = 2500, 150
GA_PRICE, GA_FEES = 1000, 100
BASE_ENV = {"JWT_SECRET": "e2e-reservations-shared-signing-secret-0123456789", "RATE_LIMIT_ENABLED": "false",
            "DATABASE_POOL_HOT_TIMEOUT_MS": "2000"}

RESERVATION_KEYS = {"id", "eventId", "orgId", "userId", "status", "expiresAt", "totalCents", "currency",
                    "idempotencyKey", "createdAt", "confirmedAt", "cancelledAt", "expiredAt", "items"}
ITEM_KEYS = {"id", "kind", "eventSeatId", "seatCode", "ticketTypeId", "quantity", "unitPriceCents", "unitFeesCents"}

# One section, two rows of ten: 20 seats.
HALL_20 = [{"name": "Hall", "code": "H", "sortOrder": 1, "rows": [
    {"name": "A", "sortOrder": 1, "seatCount": 10},
    {"name": "B", "sortOrder": 2, "seatCount": 10},
]}]


# --------------------------------------------------------------------------------------------
# Instances
# --------------------------------------------------------------------------------------------

def instance(**env):
    return Ticketd({**BASE_ENV, **env})


def running(**env):
    """An extra instance for the duration of a `with`; it must shut down cleanly."""
    return running_ticketd({**BASE_ENV, **env})


@pytest.fixture(scope="module")
def ticketd():
    """Overrides conftest's: same server, but no background workers (see the module docstring)."""
    t = instance(WORKERS_ENABLED="false")
    yield t
    assert t.stop() == 0, "".join(t.lines[-20:])


# --------------------------------------------------------------------------------------------
# Concurrency and users
# --------------------------------------------------------------------------------------------

def fire(jobs, workers=None):
    """Runs every job(session) on `workers` threads (default one per job), each thread with its own
    requests.Session, all threads released together; returns the results in job order."""
    n = len(jobs)
    workers = min(workers or n, n)
    barrier = threading.Barrier(workers)
    results = [None] * n

    def worker(w):
        with requests.Session() as session:
            barrier.wait(120)
            for i in range(w, n, workers):
                try:
                    results[i] = jobs[i](session)
                except Exception as e:  # reported below, in the caller's thread
                    results[i] = e

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(worker, range(workers)))
    failed = [r for r in results if isinstance(r, Exception)]
    if failed:
        raise failed[0]
    return results


def users(t, n, workers=4):
    """n fresh customers registered in parallel (Argon2id is the slow part)."""
    def one(session):
        res = session.post(t.url(f"{API}/auth/register"), json={"email": email(), "password": PASSWORD}, timeout=120)
        assert res.status_code == 201, res.text
        data = res.json()["data"]
        return {"id": data["user"]["id"], "email": data["user"]["email"], "h": bearer(data["accessToken"])}
    return fire([one] * n, workers)


# --------------------------------------------------------------------------------------------
# Events on sale
# --------------------------------------------------------------------------------------------

def add_ticket_type(t, who, event_id, **body):
    res = t.post(f"{API}/events/{event_id}/ticket-types", json=body, headers=who["h"])
    assert res.status_code == 201, res.text
    return res.json()["data"]


def open_event(t, base=None, sections=None, ga=None, priced=None, publish_it=True, **event_fields):
    """An event whose seats (of the sections whose codes are in `priced`, default all) are priced by
    one SEATED type (SEAT_PRICE + SEAT_FEES), plus with `ga` a general-admission type of that capacity
    (GA_PRICE + GA_FEES); PUBLISHED unless publish_it is false. `base` reuses an earlier one's admin,
    organization and venue. Extra keyword arguments are fields of the event (startsAt, salesStartAt...)."""
    if base is None:
        s = scenario(t, sections)
    else:
        s = SimpleNamespace(**vars(base))
    if base is not None or event_fields:
        s.event = make_event(t, s.admin, s.org["id"], s.venue["id"], **event_fields)
    s.eid = s.event["id"]
    codes_ = priced if priced is not None else list(s.layout)
    s.seated = add_ticket_type(t, s.admin, s.eid, name="Seats", priceCents=SEAT_PRICE, feesCents=SEAT_FEES,
                               sectionIds=[s.layout[c]["id"] for c in codes_])
    s.ga = (add_ticket_type(t, s.admin, s.eid, name="Standing", priceCents=GA_PRICE, feesCents=GA_FEES,
                            totalCapacity=ga) if ga else None)
    if publish_it:
        publish(t, s.admin, s.eid)
    s.seats = {x["seatCode"]: x["id"] for x in all_seats(t, s.eid, s.admin["h"])}
    return s


# --------------------------------------------------------------------------------------------
# Reservation calls
# --------------------------------------------------------------------------------------------

def new_key():
    return "key-" + uuid.uuid4().hex


NEW = object()


def reserve(t, who, event_id, seats=(), items=(), key=NEW, session=None, headers=None, **extra):
    """POST /reservations; `key` NEW makes a fresh idempotency key, None leaves it out of the body;
    items are (ticketTypeId, quantity) pairs."""
    body = {"eventId": event_id}
    if seats:
        body["seatIds"] = list(seats)
    if items:
        body["items"] = [{"ticketTypeId": tt, "quantity": q} for tt, q in items]
    if key is NEW:
        key = new_key()
    if key is not None:
        body["idempotencyKey"] = key
    body.update(extra)
    h = {**(who["h"] if who else {}), **(headers or {})}
    return (session or t.session).post(t.url(f"{API}/reservations"), json=body, headers=h, timeout=120)


def created(res):
    assert res.status_code == 201, res.text
    data = res.json()["data"]
    assert RESERVATION_KEYS <= set(data), data
    return data


def get_reservation(t, who_h, rid):
    return t.get(f"{API}/reservations/{rid}", headers=who_h)


def reservation(t, who_h, rid):
    res = get_reservation(t, who_h, rid)
    assert res.status_code == 200, res.text
    return res.json()["data"]


def cancel(t, who_h, rid):
    return t.post(f"{API}/reservations/{rid}/cancel", headers=who_h)


def listing(t, path, who_h, **params):
    return t.session.get(t.url(path), params=params, headers=who_h, timeout=10)


def seat_map(t, event_id, h=None):
    return {x["seatCode"]: x for x in all_seats(t, event_id, h)}


def same_instant(a, b):
    return a is not None and b is not None and abs((ts(a) - ts(b)).total_seconds()) < 0.001


def ga_availability(t, ev):
    [tt] = [x for x in get_event(t, ev.eid, ev.admin["h"])["ticketTypes"] if x["id"] == ev.ga["id"]]
    return tt["availability"]


# --------------------------------------------------------------------------------------------
# The database (psql)
# --------------------------------------------------------------------------------------------

def outbox(rid):
    return db_json("SELECT json_build_object('topic', topic, 'payload', payload)::text FROM outbox_events "
                   f"WHERE message_key = '{rid}' ORDER BY seq")


def db_seats(event_id):
    return {r["id"]: r for r in db_json(
        "SELECT json_build_object('id', id, 'code', seat_code, 'status', status, 'reservationId', reservation_id,"
        f" 'reservedUntil', reserved_until)::text FROM event_seats WHERE event_id = '{event_id}'")}


def db_reservations(event_id):
    return {r["id"]: r for r in db_json(
        "SELECT json_build_object('id', id, 'status', status, 'live', expires_at > now())::text "
        f"FROM reservations WHERE event_id = '{event_id}'")}


def db_ga(tt_id):
    [row] = db_json("SELECT json_build_object('reserved', coalesce(sum(reserved), 0), 'sold', coalesce(sum(sold), 0),"
                    " 'capacity', coalesce(sum(capacity), 0))::text "
                    f"FROM event_ticket_type_slots WHERE ticket_type_id = '{tt_id}'")
    return row


# --------------------------------------------------------------------------------------------
# 1. The reference acceptance: one seat, fifty buyers
# --------------------------------------------------------------------------------------------

def test_fifty_buyers_race_for_one_seat_and_exactly_one_wins(ticketd):
    ev = open_event(ticketd)
    seat = ev.seats["ST-A-1"]
    buyers = users(ticketd, 50)

    def attempt(u):
        def job(session):
            start = time.monotonic()
            res = reserve(ticketd, u, ev.eid, [seat], session=session)
            return res, time.monotonic() - start
        return job

    results = fire([attempt(u) for u in buyers])
    statuses = Counter(r.status_code for r, _ in results)
    assert statuses == Counter({201: 1, 409: 49}), statuses
    [(winner, won)] = [(u, r) for u, (r, _) in zip(buyers, results) if r.status_code == 201]
    for res, _ in results:
        if res.status_code == 409:
            assert errors(res) == [("SEAT_UNAVAILABLE", "seatIds[0]")], res.text
    slowest = max(elapsed for _, elapsed in results)
    assert slowest < 5, f"a loser waited {slowest:.1f}s (the rest get 409 quickly)"

    data = created(won)
    assert (data["status"], data["userId"], data["eventId"], data["orgId"]) == ("ACTIVE", winner["id"], ev.eid, ev.org["id"])
    [item] = data["items"]
    assert ITEM_KEYS <= set(item), item
    assert (item["kind"], item["eventSeatId"], item["seatCode"], item["ticketTypeId"], item["quantity"],
            item["unitPriceCents"], item["unitFeesCents"]) == ("SEAT", seat, "ST-A-1", ev.seated["id"], 1, SEAT_PRICE, SEAT_FEES)
    assert (data["totalCents"], data["currency"]) == (SEAT_PRICE + SEAT_FEES, "USD")
    assert (data["confirmedAt"], data["cancelledAt"], data["expiredAt"]) == (None, None, None)
    held_for = (ts(data["expiresAt"]) - ts(data["createdAt"])).total_seconds()
    assert abs(held_for - TTL) < 2, data
    assert ts(data["expiresAt"]).timestamp() > time.time() + TTL - 60, "expiresAt is not ~TTL in the future"

    # The winner's retry replays the same reservation.
    again = reserve(ticketd, winner, ev.eid, [seat], key=data["idempotencyKey"])
    assert again.status_code == 200, again.text
    assert again.json()["data"] == data

    shown = seat_map(ticketd, ev.eid)["ST-A-1"]
    assert shown["status"] == "RESERVED" and same_instant(shown["reservedUntil"], data["expiresAt"]), shown
    assert list(db_reservations(ev.eid)) == [data["id"]], "losers must leave no reservation rows"
    assert db_seats(ev.eid)[seat]["reservationId"] == data["id"]


# --------------------------------------------------------------------------------------------
# 2. Two instances, 200 buyers, 20 seats
# --------------------------------------------------------------------------------------------

def test_two_instances_never_hold_a_seat_twice(ticketd):
    ev = open_event(ticketd, sections=HALL_20)
    seat_ids = sorted(ev.seats.values())
    assert len(seat_ids) == 20
    buyers = users(ticketd, 200)
    seed = random.randrange(1 << 32)
    rng = random.Random(seed)
    wants = [rng.sample(seat_ids, rng.randint(1, 3)) for _ in buyers]

    with running() as other:
        targets = [ticketd if i % 2 == 0 else other for i in range(len(buyers))]
        jobs = [lambda s, i=i: reserve(targets[i], buyers[i], ev.eid, wants[i], session=s) for i in range(len(buyers))]
        results = fire(jobs, workers=100)

        statuses = Counter(r.status_code for r in results)
        assert set(statuses) <= {201, 409}, (seed, statuses, [r.text for r in results if r.status_code not in (201, 409)][:3])
        won = {}  # reservation id -> seat ids
        for want, res in zip(wants, results):
            if res.status_code == 201:
                data = created(res)
                assert sorted(i["eventSeatId"] for i in data["items"]) == sorted(want), (seed, data)
                won[data["id"]] = set(want)
        held = [s for seats in won.values() for s in seats]
        assert len(held) == len(set(held)), f"seed {seed}: a seat is in two successful reservations"
        held = set(held)
        assert held, f"seed {seed}: nobody got a seat"
        for want, res in zip(wants, results):
            if res.status_code == 409:
                named = errors(res)
                assert named and all(code == "SEAT_UNAVAILABLE" for code, _ in named), (seed, res.text)
                fields_ = [f for _, f in named]
                assert all(f in [f"seatIds[{i}]" for i in range(len(want))] for f in fields_), (seed, want, res.text)
                # Each seat named unavailable is held by a winner (nothing is released in this test).
                assert {want[int(f[len("seatIds["):-1])] for f in fields_} <= held, (seed, res.text)

        # The database agrees: exactly the winners' seats are RESERVED, each by its own reservation.
        seats = db_seats(ev.eid)
        reserved = {sid: s["reservationId"] for sid, s in seats.items() if s["status"] == "RESERVED"}
        assert all(s["reservationId"] is None for s in seats.values() if s["status"] == "AVAILABLE")
        assert len(reserved) == sum(len(v) for v in won.values()) == len(held), seed
        assert reserved == {sid: rid for rid, v in won.items() for sid in v}, seed
        rows = db_reservations(ev.eid)
        assert set(rows) == set(won) and all(r["status"] == "ACTIVE" for r in rows.values()), \
            f"seed {seed}: failed attempts left reservation rows or winners are missing"
        items = db_json(
            "SELECT json_build_object('reservationId', r.id, 'seatId', i.event_seat_id, 'holder', s.reservation_id)::text "
            "FROM reservations r JOIN reservation_items i ON i.reservation_id = r.id "
            f"JOIN event_seats s ON s.id = i.event_seat_id WHERE r.event_id = '{ev.eid}' AND r.status = 'ACTIVE'")
        assert all(i["holder"] == i["reservationId"] for i in items), (seed, items)
        assert Counter(i["seatId"] for i in items).most_common(1)[0][1] == 1, f"seed {seed}: a seat in two ACTIVE reservations"

        # Both instances' seat maps and availability show it.
        for t in (ticketd, other):
            shown = poll(lambda t=t: seat_map(t, ev.eid),
                         lambda m: {x["id"] for x in m.values() if x["status"] == "RESERVED"} == held)
            assert {x["id"] for x in shown.values() if x["status"] == "RESERVED"} == held, seed
            assert get_event(t, ev.eid)["availability"]["reserved"] == len(held)


# --------------------------------------------------------------------------------------------
# 3. All or nothing
# --------------------------------------------------------------------------------------------

def test_a_multi_seat_request_is_all_or_nothing(ticketd):
    ev = open_event(ticketd)
    a, b, c = users(ticketd, 3)
    s1, s2, s3 = ev.seats["ST-A-1"], ev.seats["ST-A-2"], ev.seats["ST-A-3"]
    held = created(reserve(ticketd, a, ev.eid, [s2]))

    res = reserve(ticketd, b, ev.eid, [s1, s2, s3])
    assert res.status_code == 409, res.text
    assert errors(res) == [("SEAT_UNAVAILABLE", "seatIds[1]")]
    m = seat_map(ticketd, ev.eid)
    assert (m["ST-A-1"]["status"], m["ST-A-2"]["status"], m["ST-A-3"]["status"]) == ("AVAILABLE", "RESERVED", "AVAILABLE")
    assert m["ST-A-1"]["reservedUntil"] is None and m["ST-A-3"]["reservedUntil"] is None
    assert listing(ticketd, f"{API}/me/reservations", b["h"]).json()["meta"]["total"] == 0

    # eventSeatId counts after the seatIds.
    res = reserve(ticketd, c, ev.eid, [s3], eventSeatId=s2)
    assert res.status_code == 409, res.text
    assert errors(res) == [("SEAT_UNAVAILABLE", "seatIds[1]")]
    assert seat_map(ticketd, ev.eid)["ST-A-3"]["status"] == "AVAILABLE"
    assert db_seats(ev.eid)[s3]["reservationId"] is None

    # The refused attempt held nothing and does not count: b can take the free seats.
    got = created(reserve(ticketd, b, ev.eid, [s3, s1]))
    assert sorted(i["seatCode"] for i in got["items"]) == ["ST-A-1", "ST-A-3"]
    assert got["totalCents"] == 2 * (SEAT_PRICE + SEAT_FEES)
    assert set(db_reservations(ev.eid)) == {held["id"], got["id"]}, "refused attempts left reservation rows"


# --------------------------------------------------------------------------------------------
# 4. General admission: 500 buyers, capacity 300
# --------------------------------------------------------------------------------------------

def test_general_admission_never_oversells(ticketd):
    capacity, requests_n = 300, 500
    with running(RESERVATION_MAX_ACTIVE_PER_USER_EVENT="100") as t:
        ev = open_event(t, ga=capacity)
        buyers = users(t, 40)
        seed = random.randrange(1 << 32)
        rng = random.Random(seed)
        quantities = [rng.randint(1, 4) for _ in range(requests_n)]
        demand = sum(quantities)
        assert demand >= capacity
        jobs = [lambda s, i=i: reserve(t, buyers[i % len(buyers)], ev.eid, items=[(ev.ga["id"], quantities[i])], session=s)
                for i in range(requests_n)]
        results = fire(jobs, workers=50)

        statuses = Counter(r.status_code for r in results)
        assert set(statuses) <= {201, 409}, (seed, statuses, [r.text for r in results if r.status_code not in (201, 409)][:3])
        total, refused = 0, []
        for q, res in zip(quantities, results):
            if res.status_code == 201:
                data = created(res)
                assert all(i["kind"] == "GA" and i["ticketTypeId"] == ev.ga["id"] and i["eventSeatId"] is None
                           for i in data["items"]), data
                assert sum(i["quantity"] for i in data["items"]) == q, (seed, q, data)
                assert data["totalCents"] == q * (GA_PRICE + GA_FEES), data
                total += q
            else:
                assert errors(res) == [("SOLD_OUT", "items")], res.text
                refused.append(q)
        assert total <= capacity, f"seed {seed}: oversold {total} > {capacity}"
        # Room never decreases here, so a refused request of q means fewer than q units were left at the end;
        # with a refused single ticket, every unit is gone: total == min(demand, capacity).
        if refused:
            assert capacity - total < min(refused), f"seed {seed}: {capacity - total} left but a request of {min(refused)} was refused"
        assert total == min(demand, capacity) or (refused and min(refused) > 1), seed

        assert ga_availability(t, ev) == {"total": capacity, "available": capacity - total, "reserved": total,
                                          "sold": 0, "blocked": 0}
        assert get_event(t, ev.eid)["availability"]["reserved"] == total
        slots = db_ga(ev.ga["id"])
        assert slots["reserved"] == total and slots["reserved"] + slots["sold"] <= slots["capacity"] == capacity, slots
        [held] = db_json("SELECT json_build_object('units', coalesce(sum(i.quantity), 0), 'reservations', count(DISTINCT r.id))::text "
                         "FROM reservations r JOIN reservation_items i ON i.reservation_id = r.id "
                         f"WHERE r.event_id = '{ev.eid}' AND r.status = 'ACTIVE'")
        assert held == {"units": total, "reservations": statuses[201]}, (seed, held)
        assert len(db_reservations(ev.eid)) == statuses[201], f"seed {seed}: refused attempts left rows"


# --------------------------------------------------------------------------------------------
# 5. Idempotency keys
# --------------------------------------------------------------------------------------------

def test_idempotency_keys(ticketd):
    ev = open_event(ticketd)
    u, v, w = users(ticketd, 3)
    pair = [ev.seats["ST-A-1"], ev.seats["ST-A-2"]]
    k = new_key()

    results = fire([lambda s: reserve(ticketd, u, ev.eid, pair, key=k, session=s)] * 10)
    assert sorted(r.status_code for r in results) == [200] * 9 + [201], [(r.status_code, r.text) for r in results]
    first = created(next(r for r in results if r.status_code == 201))
    assert {r.json()["data"]["id"] for r in results} == {first["id"]}
    assert first["idempotencyKey"] == k

    # The order of the seats does not make another request.
    replay = reserve(ticketd, u, ev.eid, pair[::-1], key=k)
    assert replay.status_code == 200 and replay.json()["data"]["id"] == first["id"], replay.text
    # The same key for something else is refused, and holds nothing.
    for other_seats in ([ev.seats["ST-A-3"]], pair[:1], pair + [ev.seats["ST-A-3"]]):
        reused = reserve(ticketd, u, ev.eid, other_seats, key=k)
        assert reused.status_code == 422, reused.text
        assert codes(reused) == ["IDEMPOTENCY_KEY_REUSED"]
    assert seat_map(ticketd, ev.eid)["ST-A-3"]["status"] == "AVAILABLE"
    assert [r["id"] for r in listing(ticketd, f"{API}/me/reservations", u["h"]).json()["data"]] == [first["id"]]
    # Keys belong to their user: another user may use the same one.
    theirs = created(reserve(ticketd, w, ev.eid, [ev.seats["ST-A-3"]], key=k))
    assert theirs["id"] != first["id"] and theirs["userId"] == w["id"]

    # The Idempotency-Key header.
    hk = new_key()
    by_header = reserve(ticketd, v, ev.eid, [ev.seats["ST-B-1"]], key=None, headers={"Idempotency-Key": hk})
    hdata = created(by_header)
    assert hdata["idempotencyKey"] == hk
    for kw in ({"key": None, "headers": {"Idempotency-Key": hk}}, {"key": hk}, {"key": hk, "headers": {"Idempotency-Key": hk}}):
        again = reserve(ticketd, v, ev.eid, [ev.seats["ST-B-1"]], **kw)
        assert again.status_code == 200 and again.json()["data"]["id"] == hdata["id"], (kw, again.text)
    mismatch = reserve(ticketd, v, ev.eid, [ev.seats["ST-B-1"]], key=new_key(), headers={"Idempotency-Key": hk})
    assert mismatch.status_code == 422, mismatch.text
    assert ("IDEMPOTENCY_KEY_MISMATCH", "idempotencyKey") in errors(mismatch)

    missing = reserve(ticketd, v, ev.eid, [ev.seats["ST-B-2"]], key=None)
    assert missing.status_code == 422, missing.text
    assert ("IDEMPOTENCY_KEY_REQUIRED", "idempotencyKey") in errors(missing)
    for bad in ("short7c", "x" * 129, "has a space", "tab\there-1", "ключ-ключ-ключ"):
        res = reserve(ticketd, v, ev.eid, [ev.seats["ST-B-2"]], key=bad)
        assert res.status_code == 422, (bad, res.text)
        assert ("INVALID_IDEMPOTENCY_KEY", "idempotencyKey") in errors(res), (bad, res.text)
    assert seat_map(ticketd, ev.eid)["ST-B-2"]["status"] == "AVAILABLE"


# --------------------------------------------------------------------------------------------
# 6. Expiry
# --------------------------------------------------------------------------------------------

def test_a_hold_expires_after_its_ttl(ticketd):
    with running(RESERVATION_TTL_SECONDS="5", RESERVATION_EXPIRY_INTERVAL_SECONDS="0.2") as t:
        ev = open_event(t, ga=10)
        u, later = users(t, 2)
        seat = ev.seats["ST-A-1"]
        data = created(reserve(t, u, ev.eid, [seat], items=[(ev.ga["id"], 3)]))
        rid = data["id"]
        assert abs((ts(data["expiresAt"]) - ts(data["createdAt"])).total_seconds() - 5) < 0.5, data
        assert data["totalCents"] == SEAT_PRICE + SEAT_FEES + 3 * (GA_PRICE + GA_FEES)
        assert ga_availability(t, ev)["reserved"] == 3
        assert seat_map(t, ev.eid)["ST-A-1"]["status"] == "RESERVED"

        got = poll(lambda: reservation(t, u["h"], rid), lambda r: r["status"] != "ACTIVE", timeout=10)
        assert got["status"] == "EXPIRED", got
        assert got["expiredAt"] is not None and (got["confirmedAt"], got["cancelledAt"]) == (None, None), got
        late = (ts(got["expiredAt"]) - ts(got["expiresAt"])).total_seconds()
        assert 0 <= late < 3, f"expired {late:.2f}s after expiresAt with a 200 ms worker interval"

        # Everything it held is back.
        row = db_seats(ev.eid)[seat]
        assert (row["status"], row["reservationId"], row["reservedUntil"]) == ("AVAILABLE", None, None), row
        shown = seat_map(t, ev.eid)["ST-A-1"]
        assert (shown["status"], shown["reservedUntil"]) == ("AVAILABLE", None), shown
        assert ga_availability(t, ev) == {"total": 10, "available": 10, "reserved": 0, "sold": 0, "blocked": 0}
        assert db_ga(ev.ga["id"])["reserved"] == 0
        rows = outbox(rid)
        assert [r["topic"] for r in rows] == ["reservation.created", "reservation.expired"], rows
        expired = rows[1]["payload"]
        assert {"eventId", "type", "occurredAt", "version", "correlationId", "actor", "data"} <= set(expired)
        assert (expired["type"], expired["data"]["reservation"]["id"], expired["data"]["reservation"]["status"]) == \
            ("reservation.expired", rid, "EXPIRED")

        # An expired reservation cannot be cancelled (contract: EXPIRED -> 409 RESERVATION_NOT_ACTIVE).
        res = cancel(t, u["h"], rid)
        assert res.status_code == 409, res.text
        assert codes(res) == ["RESERVATION_NOT_ACTIVE"]
        assert reservation(t, u["h"], rid)["status"] == "EXPIRED"
        # The expiry freed the owner's limit and the seat.
        created(reserve(t, later, ev.eid, [seat]))
        created(reserve(t, u, ev.eid, [ev.seats["ST-A-2"]]))


def test_a_lapsed_hold_is_reservable_before_any_worker_runs(ticketd):
    # No instance with workers runs during this test (the module's own has none).
    with running(WORKERS_ENABLED="false", RESERVATION_TTL_SECONDS="5") as t:
        ev = open_event(t)
        a, b = users(t, 2)
        seat = ev.seats["ST-A-1"]
        first = created(reserve(t, a, ev.eid, [seat]))
        early = reserve(t, b, ev.eid, [seat])
        assert early.status_code == 409 and errors(early) == [("SEAT_UNAVAILABLE", "seatIds[0]")], early.text

        time.sleep(max(0.0, ts(first["expiresAt"]).timestamp() - time.time()) + 0.5)
        assert seat_map(t, ev.eid)["ST-A-1"]["status"] == "AVAILABLE", "a lapsed hold shows AVAILABLE"
        second = created(reserve(t, b, ev.eid, [seat]))
        assert ts(second["createdAt"]) >= ts(first["expiresAt"])

        # No worker ran: the first reservation is still ACTIVE, only expired by time.
        still = reservation(t, a["h"], first["id"])
        assert (still["status"], still["expiredAt"]) == ("ACTIVE", None), still
        assert [r["topic"] for r in outbox(first["id"])] == ["reservation.created"]
        row = db_seats(ev.eid)[seat]
        assert (row["status"], row["reservationId"]) == ("RESERVED", second["id"]), row
        shown = seat_map(t, ev.eid)["ST-A-1"]
        assert shown["status"] == "RESERVED" and same_instant(shown["reservedUntil"], second["expiresAt"]), shown
        # A lapsed hold is not a live one: it does not count towards the owner's limit.
        created(reserve(t, a, ev.eid, [ev.seats["ST-A-2"]]))


def test_two_instances_expire_each_hold_exactly_once(ticketd):
    fast = {"RESERVATION_TTL_SECONDS": "5", "RESERVATION_EXPIRY_INTERVAL_SECONDS": "0.1", "RESERVATION_EXPIRY_BATCH": "2",
            "RESERVATION_MAX_ACTIVE_PER_USER_EVENT": "100"}
    with running(**fast) as x, running(**fast) as y:
        ev = open_event(x, sections=HALL_20)
        buyers = users(x, 4)
        seats = sorted(ev.seats.values())
        results = fire([lambda s, i=i: reserve(x if i % 2 else y, buyers[i % 4], ev.eid, [seats[i]], session=s)
                        for i in range(len(seats))])
        ids = [created(r)["id"] for r in results]

        def states():
            return db_reservations(ev.eid)
        done = poll(states, lambda rows: all(r["status"] != "ACTIVE" for r in rows.values()), timeout=15)
        assert set(done) == set(ids)
        assert Counter(r["status"] for r in done.values()) == Counter({"EXPIRED": len(ids)}), done
        in_list = ",".join(f"'{i}'" for i in ids)
        counts = db_json("SELECT json_build_object('id', message_key, 'topic', topic, 'n', count(*))::text "
                         f"FROM outbox_events WHERE message_key IN ({in_list}) GROUP BY message_key, topic")
        per = {(c["id"], c["topic"]): c["n"] for c in counts}
        for rid in ids:
            assert per.get((rid, "reservation.expired")) == 1, (rid, per)
            assert per.get((rid, "reservation.created")) == 1, (rid, per)
        assert all(s["status"] == "AVAILABLE" and s["reservationId"] is None for s in db_seats(ev.eid).values())


# --------------------------------------------------------------------------------------------
# 7. Cancel
# --------------------------------------------------------------------------------------------

def test_cancel_releases_at_once(ticketd):
    ev = open_event(ticketd, ga=10)
    staff = add_member(ticketd, ev.admin, ev.org, "ORG_STAFF")
    support = add_member(ticketd, ev.admin, ev.org, "SUPPORT")
    owner, stranger, customer = users(ticketd, 3)
    seat = ev.seats["ST-A-1"]
    data = created(reserve(ticketd, owner, ev.eid, [seat], items=[(ev.ga["id"], 2)]))
    rid = data["id"]
    assert ga_availability(ticketd, ev)["reserved"] == 2

    res = cancel(ticketd, stranger["h"], rid)
    assert res.status_code == 404, res.text
    res = cancel(ticketd, support["h"], rid)
    assert res.status_code == 403, res.text
    assert reservation(ticketd, owner["h"], rid)["status"] == "ACTIVE"

    res = cancel(ticketd, owner["h"], rid)
    assert res.status_code == 200, res.text
    done = res.json()["data"]
    assert RESERVATION_KEYS <= set(done)
    assert (done["id"], done["status"], done["expiredAt"], done["confirmedAt"]) == (rid, "CANCELLED", None, None)
    assert done["cancelledAt"] is not None
    # Released at once: no waiting, no polling.
    shown = seat_map(ticketd, ev.eid)["ST-A-1"]
    assert (shown["status"], shown["reservedUntil"]) == ("AVAILABLE", None), shown
    assert ga_availability(ticketd, ev) == {"total": 10, "available": 10, "reserved": 0, "sold": 0, "blocked": 0}
    assert db_ga(ev.ga["id"])["reserved"] == 0
    assert db_seats(ev.eid)[seat]["reservationId"] is None
    rows = outbox(rid)
    assert [r["topic"] for r in rows] == ["reservation.created", "reservation.cancelled"], rows
    assert rows[1]["payload"]["data"]["reservation"]["status"] == "CANCELLED"
    assert rows[1]["payload"]["actor"].get("userId") == owner["id"], rows[1]["payload"]

    again = cancel(ticketd, owner["h"], rid)
    assert again.status_code == 200, again.text
    assert (again.json()["data"]["status"], again.json()["data"]["cancelledAt"]) == ("CANCELLED", done["cancelledAt"])
    assert len(outbox(rid)) == 2, "cancelling again is a no-op"
    assert reservation(ticketd, owner["h"], rid)["status"] == "CANCELLED"

    # Staff cancels a customer's hold.
    theirs = created(reserve(ticketd, customer, ev.eid, [seat]))
    res = cancel(ticketd, staff["h"], theirs["id"])
    assert res.status_code == 200, res.text
    assert res.json()["data"]["status"] == "CANCELLED"
    assert seat_map(ticketd, ev.eid)["ST-A-1"]["status"] == "AVAILABLE"
    assert outbox(theirs["id"])[-1]["payload"]["actor"].get("userId") == staff["id"]
    # The owner's limit is free again.
    created(reserve(ticketd, owner, ev.eid, [seat]))

    for bad in ("not-a-uuid", "123"):
        assert cancel(ticketd, owner["h"], bad).status_code == 404
    assert cancel(ticketd, owner["h"], str(uuid.uuid4())).status_code == 404
    assert cancel(ticketd, None, rid).status_code == 401


# --------------------------------------------------------------------------------------------
# 8. Visibility and listings
# --------------------------------------------------------------------------------------------

def test_who_sees_which_reservations(ticketd):
    ev = open_event(ticketd)
    ev2 = open_event(ticketd, base=ev)
    staff = add_member(ticketd, ev.admin, ev.org, "ORG_STAFF")
    support = add_member(ticketd, ev.admin, ev.org, "SUPPORT")
    a, b = users(ticketd, 2)
    foreign_admin = user(ticketd)
    make_org(ticketd, foreign_admin)

    r1 = created(reserve(ticketd, a, ev.eid, [ev.seats["ST-A-1"]]))
    rb = created(reserve(ticketd, b, ev.eid, [ev.seats["ST-A-2"]]))
    time.sleep(0.01)
    r2 = created(reserve(ticketd, a, ev2.eid, [ev2.seats["ST-A-1"]]))

    assert reservation(ticketd, a["h"], r1["id"]) == r1
    for who in (staff, support, ev.admin):
        assert reservation(ticketd, who["h"], r1["id"])["id"] == r1["id"]
    for who in (b, foreign_admin):
        res = get_reservation(ticketd, who["h"], r1["id"])
        assert res.status_code == 404, res.text
    assert get_reservation(ticketd, None, r1["id"]).status_code == 401
    for bad in ("not-a-uuid", "42"):
        assert get_reservation(ticketd, a["h"], bad).status_code == 404

    # GET /me/reservations: own only, newest first, paginated.
    mine = listing(ticketd, f"{API}/me/reservations", a["h"]).json()
    assert [r["id"] for r in mine["data"]] == [r2["id"], r1["id"]] and mine["meta"]["total"] == 2, mine
    assert RESERVATION_KEYS <= set(mine["data"][0])
    p1 = listing(ticketd, f"{API}/me/reservations", a["h"], page=1, limit=1).json()
    p2 = listing(ticketd, f"{API}/me/reservations", a["h"], page=2, limit=1).json()
    assert ([r["id"] for r in p1["data"]], p1["meta"]["hasNext"]) == ([r2["id"]], True)
    assert ([r["id"] for r in p2["data"]], p2["meta"]["hasNext"]) == ([r1["id"]], False)
    assert [r["id"] for r in listing(ticketd, f"{API}/me/reservations", b["h"]).json()["data"]] == [rb["id"]]
    assert listing(ticketd, f"{API}/me/reservations", foreign_admin["h"]).json()["data"] == []
    for q in ({"limit": 101}, {"limit": 0}, {"page": 0}):
        assert listing(ticketd, f"{API}/me/reservations", a["h"], **q).status_code == 422, q
    assert listing(ticketd, f"{API}/me/reservations", None).status_code == 401

    # GET /events/:id/reservations: the organization's members only.
    path = f"{API}/events/{ev.eid}/reservations"
    for who in (staff, support, ev.admin):
        res = listing(ticketd, path, who["h"])
        assert res.status_code == 200, res.text
        assert {r["id"] for r in res.json()["data"]} == {r1["id"], rb["id"]} and res.json()["meta"]["total"] == 2
    for who in (a, foreign_admin):
        res = listing(ticketd, path, who["h"])
        assert res.status_code == 404, res.text
    assert cancel(ticketd, b["h"], rb["id"]).status_code == 200
    by_status = {s: [r["id"] for r in listing(ticketd, path, staff["h"], status=s).json()["data"]]
                 for s in ("ACTIVE", "CANCELLED", "EXPIRED", "CONFIRMED")}
    assert by_status == {"ACTIVE": [r1["id"]], "CANCELLED": [rb["id"]], "EXPIRED": [], "CONFIRMED": []}
    for bad in ("BOGUS", "active"):
        res = listing(ticketd, path, staff["h"], status=bad)
        assert res.status_code == 422, (bad, res.text)
    p = listing(ticketd, path, staff["h"], limit=1).json()
    assert len(p["data"]) == 1 and p["meta"]["total"] == 2 and p["meta"]["hasNext"] is True


# --------------------------------------------------------------------------------------------
# 9. Rules
# --------------------------------------------------------------------------------------------

def test_reservation_rules(ticketd):
    ev = open_event(ticketd, ga=5, priced=["ST"])  # the balcony is unpriced
    u, v = users(ticketd, 2)
    S = ev.seats
    ga = ev.ga["id"]

    def refused(res, status, *expected):
        assert res.status_code == status, res.text
        if expected:
            assert errors(res) == list(expected), res.text
        return res

    refused(reserve(ticketd, None, ev.eid, [S["ST-A-1"]]), 401)
    api_key = ticketd.post(f"{API}/orgs/{ev.org['id']}/api-keys", json={"name": "box office"}, headers=ev.admin["h"])
    assert api_key.status_code == 201, api_key.text
    refused(reserve(ticketd, None, ev.eid, [S["ST-A-1"]], headers={"X-Api-Key": api_key.json()["data"]["key"]}), 403)

    # Events not on sale.
    refused(reserve(ticketd, u, str(uuid.uuid4()), [S["ST-A-1"]]), 404)
    draft = open_event(ticketd, base=ev, publish_it=False)
    refused(reserve(ticketd, u, draft.eid, [draft.seats["ST-A-1"]]), 404)
    gone = open_event(ticketd, base=ev)
    set_status(ticketd, gone.admin, gone.eid, "CANCELLED")
    for event, reason in ((gone, "EVENT_CANCELLED"),
                          (open_event(ticketd, base=ev, salesStartAt="2030-01-01T00:00:00Z"), "SALES_NOT_STARTED"),
                          (open_event(ticketd, base=ev, salesEndAt="2020-01-01T00:00:00Z"), "SALES_ENDED"),
                          (open_event(ticketd, base=ev, startsAt="2020-01-01T00:00:00Z"), "EVENT_STARTED")):
        res = refused(reserve(ticketd, u, event.eid, [event.seats["ST-A-1"]]), 422)
        assert codes(res) == ["EVENT_NOT_ON_SALE", reason], res.text
        assert db_seats(event.eid)[event.seats["ST-A-1"]]["status"] == "AVAILABLE"

    # Validation (422) and malformed requests (400).
    eleven = list(S.values())
    assert len(eleven) == 11
    assert ("TOO_MANY_SEATS", "seatIds") in errors(refused(reserve(ticketd, u, ev.eid, eleven), 422))
    some = [S[f"ST-{r}-{n}"] for r in "AB" for n in (1, 2, 3)]
    assert ("TOO_MANY_SEATS", "seatIds") in errors(refused(reserve(ticketd, u, ev.eid, some, items=[(ga, 5)]), 422))
    assert "items[0].quantity" in [f for _, f in errors(refused(reserve(ticketd, u, ev.eid, items=[(ga, 11)]), 422))]
    assert "items[0].quantity" in [f for _, f in errors(refused(reserve(ticketd, u, ev.eid, items=[(ga, 0)]), 422))]
    assert ("NOTHING_TO_RESERVE", "seatIds") in errors(refused(reserve(ticketd, u, ev.eid), 422))
    assert ("NOTHING_TO_RESERVE", "seatIds") in errors(refused(reserve(ticketd, u, ev.eid, seatIds=[]), 422))
    dup = refused(reserve(ticketd, u, ev.eid, [S["ST-A-1"], S["ST-A-1"]]), 422)
    assert ("DUPLICATE_SEAT", "seatIds[1]") in errors(dup)
    refused(reserve(ticketd, u, ev.eid, [S["ST-A-1"]], note="window seat"), 422)
    refused(reserve(ticketd, u, ev.eid, ["seat-1"]), 422)
    refused(reserve(ticketd, u, "not-an-event", [S["ST-A-1"]]), 422)
    raw = ticketd.session.post(ticketd.url(f"{API}/reservations"), data='{"eventId": "' + ev.eid + '", "seatIds": [',
                               headers={**u["h"], "Content-Type": "application/json"}, timeout=10)
    assert raw.status_code == 400, raw.text
    for wrong in ({"eventId": 5}, {"seatIds": S["ST-A-1"]}, {"seatIds": [5]}, {"eventSeatId": 7},
                  {"items": {"ticketTypeId": ga, "quantity": 1}}, {"items": [{"ticketTypeId": ga, "quantity": "2"}]},
                  {"idempotencyKey": 12345678}):
        body = {"eventId": ev.eid, "seatIds": [S["ST-A-1"]], "idempotencyKey": new_key(), **wrong}
        res = ticketd.post(f"{API}/reservations", json=body, headers=u["h"])
        assert res.status_code == 400, (wrong, res.text)

    # Seats that cannot be held (409, one error per seat, nothing held).
    assert patch_seats(ticketd, ev.admin["h"], ev.eid, seatIds=[S["ST-B-4"]], status="BLOCKED").status_code == 200
    refused(reserve(ticketd, u, ev.eid, [S["ST-A-1"], S["ST-B-4"]]), 409, ("SEAT_UNAVAILABLE", "seatIds[1]"))
    refused(reserve(ticketd, u, ev.eid, eventSeatId=S["ST-B-4"]), 409, ("SEAT_UNAVAILABLE", "seatIds[0]"))
    foreign_seat = draft.seats["ST-A-1"]
    refused(reserve(ticketd, u, ev.eid, [S["BAL-A-1"], S["ST-A-2"], str(uuid.uuid4()), foreign_seat]), 409,
            ("SEAT_UNAVAILABLE", "seatIds[0]"), ("SEAT_UNAVAILABLE", "seatIds[2]"), ("SEAT_UNAVAILABLE", "seatIds[3]"))
    # Unknown general-admission types (a SEATED type is not one).
    refused(reserve(ticketd, u, ev.eid, items=[(str(uuid.uuid4()), 1)]), 422, ("UNKNOWN_TICKET_TYPE", "items[0].ticketTypeId"))
    refused(reserve(ticketd, u, ev.eid, items=[(ga, 1), (ev.seated["id"], 1)]), 422,
            ("UNKNOWN_TICKET_TYPE", "items[1].ticketTypeId"))
    refused(reserve(ticketd, u, ev.eid, items=[(ga, 6)]), 409, ("SOLD_OUT", "items"))
    assert db_reservations(ev.eid) == {}, "refused requests left reservation rows"
    assert ga_availability(ticketd, ev)["reserved"] == 0
    assert {c for c, x in seat_map(ticketd, ev.eid).items() if x["status"] != "AVAILABLE"} == {"ST-B-4"}

    # One live hold per user and event (default limit 1).
    mine = created(reserve(ticketd, u, ev.eid, [S["ST-A-1"]]))
    refused(reserve(ticketd, u, ev.eid, [S["ST-A-2"]]), 409, ("ACTIVE_RESERVATION_LIMIT", "eventId"))
    assert reserve(ticketd, u, ev.eid, items=[(ga, 1)]).status_code == 409
    created(reserve(ticketd, v, ev.eid, [S["ST-A-2"]], items=[(ga, 5)]))
    assert mine["id"] in db_reservations(ev.eid) and len(db_reservations(ev.eid)) == 2

    # Non-UUID reservation ids.
    for bad in ("not-a-uuid", "1", "' OR 1=1 --"):
        assert get_reservation(ticketd, u["h"], bad).status_code == 404
        assert cancel(ticketd, u["h"], bad).status_code == 404


def test_not_on_sale_answers_name_event_not_on_sale(ticketd):
    """Not on sale: errors[0] is EVENT_NOT_ON_SALE (the envelope has codes only in errors[]), and the
    second entry names the reason."""
    ev = open_event(ticketd)
    [u] = users(ticketd, 1)
    set_status(ticketd, ev.admin, ev.eid, "CANCELLED")
    res = reserve(ticketd, u, ev.eid, [ev.seats["ST-A-1"]])
    assert res.status_code == 422, res.text
    assert codes(res) == ["EVENT_NOT_ON_SALE", "EVENT_CANCELLED"], res.text


# --------------------------------------------------------------------------------------------
# 10. Staff cannot block a held seat
# --------------------------------------------------------------------------------------------

def test_a_held_seat_cannot_be_blocked_or_released_by_staff(ticketd):
    ev = open_event(ticketd)
    [u] = users(ticketd, 1)
    held, free = ev.seats["ST-A-1"], ev.seats["ST-A-2"]
    data = created(reserve(ticketd, u, ev.eid, [held]))
    h = ev.admin["h"]

    res = patch_seats(ticketd, h, ev.eid, seatIds=[free, held], status="BLOCKED")
    assert res.status_code == 409, res.text
    assert errors(res) == [("SEAT_NOT_BLOCKABLE", "seatIds[1]")]
    res = patch_seats(ticketd, h, ev.eid, seatIds=[held], status="AVAILABLE")
    assert res.status_code == 409, res.text
    assert errors(res) == [("SEAT_NOT_BLOCKABLE", "seatIds[0]")]
    m = seat_map(ticketd, ev.eid)
    assert (m["ST-A-1"]["status"], m["ST-A-2"]["status"]) == ("RESERVED", "AVAILABLE"), "nothing may change"
    assert db_seats(ev.eid)[held]["reservationId"] == data["id"]
    assert reservation(ticketd, u["h"], data["id"])["status"] == "ACTIVE"

    assert cancel(ticketd, u["h"], data["id"]).status_code == 200
    res = patch_seats(ticketd, h, ev.eid, seatIds=[free, held], status="BLOCKED")
    assert res.status_code == 200, res.text


# --------------------------------------------------------------------------------------------
# 11. Another instance's seat map
# --------------------------------------------------------------------------------------------

def test_another_instance_shows_the_hold_at_once(ticketd):
    ev = open_event(ticketd)
    [u] = users(ticketd, 1)
    with running() as b:
        for _ in range(2):  # warm b's snapshot
            assert seat_map(b, ev.eid)["ST-A-1"]["status"] == "AVAILABLE"
            assert get_event(b, ev.eid)["availability"]["reserved"] == 0
        data = created(reserve(ticketd, u, ev.eid, [ev.seats["ST-A-1"]]))
        seen = poll(lambda: seat_map(b, ev.eid), lambda m: m["ST-A-1"]["status"] == "RESERVED", timeout=1.0)
        assert seen["ST-A-1"]["status"] == "RESERVED", "instance b served a stale seat map"
        assert same_instant(seen["ST-A-1"]["reservedUntil"], data["expiresAt"]), seen["ST-A-1"]
        ev_b = poll(lambda: get_event(b, ev.eid), lambda e: e["availability"]["reserved"] == 1, timeout=1.0)
        assert ev_b["availability"]["reserved"] == 1

        # And back: cancelled on b, AVAILABLE on the first instance.
        assert seat_map(ticketd, ev.eid)["ST-A-1"]["status"] == "RESERVED"
        res = cancel(b, u["h"], data["id"])
        assert res.status_code == 200, res.text
        back = poll(lambda: seat_map(ticketd, ev.eid), lambda m: m["ST-A-1"]["status"] == "AVAILABLE", timeout=1.0)
        assert back["ST-A-1"]["status"] == "AVAILABLE", "the first instance served a stale seat map"
