"""Payments, webhooks, finalization through Kafka, tickets, check-in and refunds (issue #6).

Contract: openapi/openapi.yaml (/payments, /tickets, /orders), the payment state transitions of
sql/functions/enforce_status_transition.sql and README's "Outbox → Kafka".

This module covers the HTTP side (payment creation, webhook authentication, duplicates and state
transitions); test_purchases.py follows a purchase through Kafka to its tickets.
"""
import hashlib
import hmac
import json
import time
import uuid

import pytest

from conftest import Ticketd
from layout import API, db_json
from test_orgs import codes, user
from test_reservations import (BASE_ENV, HALL_20, SEAT_FEES, SEAT_PRICE, cancel, created, fire,
                               open_event, reserve, users)

SECRET = "e2e-payments-webhook-secret-0123456789"
ENV = {**BASE_ENV, "PAYMENT_WEBHOOK_SECRET": SECRET, "PAYMENT_SIMULATOR": "on",
       "CONSUMER_BACKOFF_MS": "50", "CONSUMER_BACKOFF_MAX_MS": "200", "CONSUMER_MAX_ATTEMPTS": "3",
       "RESERVATION_MAX_ACTIVE_PER_USER_EVENT": "50"}
PAYMENT_KEYS = {"id", "reservationId", "status", "provider", "providerRef", "amountCents", "currency",
                "checkoutUrl"}


@pytest.fixture(scope="module")
def ticketd():
    t = Ticketd(ENV)
    t.wait_ready(90)
    yield t
    assert t.stop() == 0, "".join(t.lines[-20:])


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------

def sign(body, secret=SECRET, t=None):
    t = int(time.time()) if t is None else t
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def webhook(t, body, signature=None, session=None):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if signature is not False:
        headers["X-Webhook-Signature"] = signature or sign(raw)
    return (session or t.session).post(t.url(f"{API}/payments/webhook"), data=raw, headers=headers,
                                       timeout=30)


def pay(t, who, rid, **extra):
    return t.post(f"{API}/payments", json={"reservationId": rid, **extra}, headers=who["h"])


def paid_body(payment, status="SUCCEEDED", event_id=None, **extra):
    return {"provider": "simulated", "providerEventId": event_id or "evt_" + uuid.uuid4().hex,
            "providerRef": payment["providerRef"], "status": status,
            "amountCents": payment["amountCents"], "currency": payment["currency"], **extra}


def complete(t, who, pid, outcome="SUCCEEDED"):
    return t.post(f"{API}/dev/payments/{pid}/complete", json={"outcome": outcome}, headers=who["h"])


def hold(t, s, who, *seat_codes):
    return created(reserve(t, who, s.eid, [s.seats[c] for c in seat_codes]))


def held_and_pending(t, s, who, *seat_codes):
    r = hold(t, s, who, *seat_codes)
    res = pay(t, who, r["id"])
    assert res.status_code == 201, res.text
    return r, res.json()["data"]


def tickets_of(t, who, timeout=15.0, n=1):
    """The caller's tickets once at least n are there (issuance is asynchronous)."""
    deadline = time.time() + timeout
    while True:
        res = t.get(f"{API}/me/tickets", headers=who["h"], params={"limit": 100})
        assert res.status_code == 200, res.text
        data = res.json()["data"]
        if len(data) >= n or time.time() > deadline:
            return data
        time.sleep(0.1)


def payment(t, who, pid):
    res = t.get(f"{API}/payments/{pid}", headers=who["h"])
    assert res.status_code == 200, res.text
    return res.json()["data"]


def outbox(topic, aggregate_id):
    return db_json(f"SELECT payload::text FROM outbox_events WHERE topic = '{topic}' "
                   f"AND aggregate_id = '{aggregate_id}' ORDER BY seq")


def metric(t, name, **labels):
    text = t.get("/metrics").text
    want = name + ("{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else "")
    for line in text.splitlines():
        if line.startswith(want + " "):
            return float(line.split()[-1])
    return 0.0


@pytest.fixture(scope="module")
def shop(ticketd):
    """A published 20-seat event and three customers."""
    s = open_event(ticketd, sections=HALL_20)
    s.buyers = users(ticketd, 3)
    return s


# --------------------------------------------------------------------------------------------
# POST /payments, GET /payments/:id
# --------------------------------------------------------------------------------------------

def test_create_payment_once_per_reservation(ticketd, shop):
    who = shop.buyers[0]
    r = hold(ticketd, shop, who, "H-A-1")
    first = pay(ticketd, who, r["id"])
    assert first.status_code == 201, first.text
    p = first.json()["data"]
    assert PAYMENT_KEYS <= set(p)
    assert p["status"] == "PENDING" and p["provider"] == "simulated"
    assert p["amountCents"] == SEAT_PRICE + SEAT_FEES == r["totalCents"]
    assert p["currency"] == r["currency"] and p["checkoutUrl"] and p["providerRef"]
    again = pay(ticketd, who, r["id"], amountCents=p["amountCents"], currency=p["currency"])
    assert again.status_code == 200, again.text
    assert again.json()["data"]["id"] == p["id"]
    # in parallel: still one payment
    results = fire([lambda s: s.post(ticketd.url(f"{API}/payments"), json={"reservationId": r["id"]},
                                     headers=who["h"], timeout=30)] * 8)
    assert {x.status_code for x in results} == {200}
    assert {x.json()["data"]["id"] for x in results} == {p["id"]}
    assert db_json(f"SELECT count(*) FROM payments WHERE reservation_id = '{r['id']}'") == [1]
    got = payment(ticketd, who, p["id"])
    assert got["id"] == p["id"] and got["status"] == "PENDING"
    cancel(ticketd, who["h"], r["id"])


def test_create_payment_rules(ticketd, shop):
    who, other = shop.buyers[1], shop.buyers[2]
    r = hold(ticketd, shop, who, "H-A-2")
    res = pay(ticketd, who, r["id"], amountCents=1)
    assert res.status_code == 422 and "AMOUNT_MISMATCH" in codes(res)
    res = pay(ticketd, who, r["id"], currency="XXX")
    assert res.status_code == 422 and "CURRENCY_MISMATCH" in codes(res)
    assert pay(ticketd, other, r["id"]).status_code == 404  # someone else's reservation
    assert pay(ticketd, who, str(uuid.uuid4())).status_code == 404
    res = pay(ticketd, who, "not-a-uuid")
    assert res.status_code == 422
    res = pay(ticketd, who, r["id"], bogus=True)
    assert res.status_code == 422 and "UNKNOWN_FIELD" in codes(res)
    res = pay(ticketd, who, r["id"], provider="stripe-ish")
    assert res.status_code == 422 and "UNKNOWN_PROVIDER" in codes(res)
    res = ticketd.post(f"{API}/payments", data=b"{not json", headers={**who["h"], "Content-Type": "application/json"})
    assert res.status_code == 400
    res = ticketd.post(f"{API}/payments", json={"reservationId": 12}, headers=who["h"])
    assert res.status_code == 400
    assert ticketd.post(f"{API}/payments", json={"reservationId": r["id"]}).status_code == 401
    assert cancel(ticketd, who["h"], r["id"]).status_code == 200
    res = pay(ticketd, who, r["id"])
    assert res.status_code == 409 and "RESERVATION_NOT_ACTIVE" in codes(res)
    # payments are visible to their owner and the organization's staff only
    assert ticketd.get(f"{API}/payments/{uuid.uuid4()}", headers=who["h"]).status_code == 404
    assert ticketd.get(f"{API}/payments/nope", headers=who["h"]).status_code == 404


def test_payment_visible_to_staff_not_strangers(ticketd, shop):
    who = shop.buyers[2]
    r, p = held_and_pending(ticketd, shop, who, "H-A-3")
    assert ticketd.get(f"{API}/payments/{p['id']}", headers=shop.admin["h"]).status_code == 200
    stranger = user(ticketd)
    assert ticketd.get(f"{API}/payments/{p['id']}", headers=stranger["h"]).status_code == 404
    cancel(ticketd, who["h"], r["id"])


# --------------------------------------------------------------------------------------------
# Webhook signatures
# --------------------------------------------------------------------------------------------

def rejected_count():
    return db_json("SELECT count(*) FROM payment_webhook_events WHERE NOT signature_valid")[0]


def test_webhook_rejects_missing_bad_and_stale_signatures(ticketd, shop):
    who = shop.buyers[0]
    r, p = held_and_pending(ticketd, shop, who, "H-A-4")
    body = json.dumps(paid_body(p)).encode()
    before = rejected_count()
    for sig, code in [(False, "SIGNATURE_MISSING"),
                      ("t=1,v1=00", "SIGNATURE_EXPIRED"),
                      (sign(body, "some-other-secret-0123456789"), "INVALID_SIGNATURE"),
                      (sign(body, t=int(time.time()) - 310), "SIGNATURE_EXPIRED"),
                      (sign(body, t=int(time.time()) + 310), "SIGNATURE_EXPIRED"),
                      ("garbage", "INVALID_SIGNATURE"),
                      (sign(body + b" "), "INVALID_SIGNATURE")]:  # signature over another body
        res = webhook(ticketd, body, sig)
        assert res.status_code == 401, (sig, res.text)
        assert codes(res) == [code], (sig, res.text)
        assert res.json()["success"] is False and res.headers.get("X-Request-Id")
    assert rejected_count() == before + 7  # every attempt is recorded
    assert payment(ticketd, who, p["id"])["status"] == "PENDING"
    # several v1 values (rotation): one valid is enough
    good = sign(body).split(",v1=")
    res = webhook(ticketd, body, f"{good[0]},v1={'0' * 64},v1={good[1]}")
    assert res.status_code == 200, res.text
    assert res.json()["data"]["processed"] is True


def test_webhook_secret_rotation():
    """PAYMENT_WEBHOOK_SECRET lists several secrets during a rotation; each one verifies."""
    t = Ticketd({**ENV, "PAYMENT_WEBHOOK_SECRET": "old-secret-0123456789abcdef, new-secret-0123456789abcdef",
                 "WORKERS_ENABLED": "false"})
    try:
        body = json.dumps({"provider": "simulated", "providerEventId": "evt_" + uuid.uuid4().hex,
                           "providerRef": "sim_unknown_" + uuid.uuid4().hex, "status": "FAILED"}).encode()
        for secret in ("old-secret-0123456789abcdef", "new-secret-0123456789abcdef"):
            res = webhook(t, body, sign(body, secret))
            assert res.status_code == 200, res.text
        assert webhook(t, body, sign(body, SECRET)).status_code == 401
    finally:
        assert t.stop() == 0


def test_webhook_body_validation(ticketd):
    body = b'{"provider":"simulated","providerEventId":"e1","providerRef":"x","status":"MAYBE"}'
    res = webhook(ticketd, body)
    assert res.status_code == 422 and "INVALID_STATUS" in codes(res)
    body = b'{"provider":"simulated","providerEventId":"e1","providerRef":"x","status":"FAILED","amountCents":"1"}'
    assert webhook(ticketd, body).status_code == 400
    # unknown payment: recorded and acknowledged (the provider must not retry forever)
    body = json.dumps({"provider": "simulated", "providerEventId": "evt_" + uuid.uuid4().hex,
                       "providerRef": "sim_nope", "status": "SUCCEEDED"}).encode()
    res = webhook(ticketd, body)
    assert res.status_code == 200 and res.json()["data"]["processed"] is False


def test_webhook_delivered_ten_times_in_parallel_counts_once(ticketd, shop):
    who = shop.buyers[1]
    r, p = held_and_pending(ticketd, shop, who, "H-A-5")
    raw = json.dumps(paid_body(p)).encode()
    sig = sign(raw)
    results = fire([lambda s: webhook(ticketd, raw, sig, session=s)] * 10)
    assert [x.status_code for x in results] == [200] * 10, [x.text for x in results]
    data = [x.json()["data"] for x in results]
    assert sum(1 for d in data if d["processed"]) == 1
    assert sum(1 for d in data if d["duplicate"]) == 9
    assert {d["paymentId"] for d in data} == {p["id"]}
    assert len(outbox("payment.succeeded", p["id"])) == 1
    # later replays too
    res = webhook(ticketd, raw, sign(raw))
    assert res.status_code == 200 and res.json()["data"]["duplicate"] is True
    assert res.json()["data"]["status"] == "SUCCEEDED"


def test_failure_then_late_success_is_never_resurrected(ticketd, shop):
    who = shop.buyers[2]
    r, p = held_and_pending(ticketd, shop, who, "H-A-6")
    res = webhook(ticketd, paid_body(p, "FAILED"))
    assert res.status_code == 200 and res.json()["data"]["status"] == "FAILED"
    assert len(outbox("payment.failed", p["id"])) == 1
    res = webhook(ticketd, paid_body(p, "SUCCEEDED"))
    assert res.status_code == 200, res.text
    got = payment(ticketd, who, p["id"])
    assert got["status"] == "FAILED" and got["needsRefund"] is True
    assert len(outbox("payment.refund_required", p["id"])) == 1
    assert len(outbox("payment.succeeded", p["id"])) == 0
    # the hold is still there: the customer may pay again with a new payment
    again = pay(ticketd, who, r["id"])
    assert again.status_code == 201 and again.json()["data"]["id"] != p["id"]
    cancel(ticketd, who["h"], r["id"])


def test_amount_mismatch_routes_to_refund(ticketd, shop):
    who = shop.buyers[0]
    r, p = held_and_pending(ticketd, shop, who, "H-A-7")
    res = webhook(ticketd, paid_body(p, amountCents=p["amountCents"] - 1))
    assert res.status_code == 200
    got = payment(ticketd, who, p["id"])
    assert got["status"] == "FAILED" and got["needsRefund"] is True
    cancel(ticketd, who["h"], r["id"])


