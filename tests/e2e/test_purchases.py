"""Purchases end to end through Kafka: reserve → pay → signed webhook → outbox → Kafka →
payment.succeeded consumer → order and signed tickets; check-in, refunds, lapsed holds, poison
messages (README, "Outbox → Kafka").

The module's instance runs every worker: the outbox publisher puts payment.succeeded on the real
Kafka broker and the consumer issues the tickets, so a purchase crosses PostgreSQL → Kafka →
PostgreSQL like in production.
"""
import base64
import subprocess
import time
import uuid

import pytest

from conftest import Ticketd
from layout import API, add_member, db_json, poll
from test_orgs import codes, user
from test_payments import (ENV, complete, held_and_pending, metric, outbox, pay, payment, tickets_of,
                           webhook, paid_body)
from test_reservations import HALL_20, SEAT_FEES, SEAT_PRICE, fire, open_event, users

TICKET_KEYS = {"id", "code", "status", "eventId", "orderId", "seat", "issuedAt", "checkedInAt"}


@pytest.fixture(scope="module")
def ticketd():
    t = Ticketd(ENV)
    t.wait_ready(90)
    yield t
    assert t.stop() == 0, "".join(t.lines[-20:])


@pytest.fixture(scope="module")
def shop(ticketd):
    """A published 20-seat event and three customers."""
    s = open_event(ticketd, sections=HALL_20)
    s.buyers = users(ticketd, 3)
    return s


def buy(t, s, who, *codes_):
    """Reserve, pay through the simulated checkout, wait for the tickets; returns (reservation,
    payment, tickets)."""
    r, p = held_and_pending(t, s, who, *codes_)
    res = complete(t, who, p["id"])
    assert res.status_code == 200, res.text
    assert res.json()["data"]["processed"] is True, res.text
    deadline = time.time() + 15
    while time.time() < deadline:
        order = payment(t, who, p["id"]).get("orderId")
        if order:
            mine = [x for x in tickets_of(t, who) if x["orderId"] == order]
            if len(mine) == len(codes_):
                return r, payment(t, who, p["id"]), mine
        time.sleep(0.05)
    raise AssertionError(f"no tickets for payment {p['id']}")


def test_duplicate_webhooks_issue_tickets_once(ticketd, shop):
    who = shop.buyers[0]
    r, p = held_and_pending(ticketd, shop, who, "H-A-9")
    body = paid_body(p)
    results = fire([lambda s: webhook(ticketd, body, session=s)] * 10)
    assert sum(1 for x in results if x.json()["data"]["processed"]) == 1
    order_id = poll(lambda: payment(ticketd, who, p["id"]).get("orderId"), bool, 15)
    assert order_id, "".join(l for l in ticketd.lines if "kafka" in l or "consumer" in l or "outbox" in l)[-5000:]
    time.sleep(0.5)  # a second finalization, if any, would have landed by now
    assert len([x for x in tickets_of(ticketd, who) if x["orderId"] == order_id]) == 1
    assert db_json(f"SELECT count(*) FROM orders WHERE payment_id = '{p['id']}'") == [1]
    assert db_json(f"SELECT count(*) FROM tickets WHERE order_id = '{order_id}'") == [1]


def verify_code(code, event_id, public_key_b64):
    from nacl.signing import VerifyKey
    raw = base64.urlsafe_b64decode(code[3:] + "=" * (-len(code[3:]) % 4))
    ticket_id, sig = raw[:16], raw[16:]
    key = VerifyKey(base64.urlsafe_b64decode(public_key_b64 + "=" * (-len(public_key_b64) % 4)))
    key.verify(b"ticketd/ticket/v1" + ticket_id + uuid.UUID(event_id).bytes, sig)
    return str(uuid.UUID(bytes=ticket_id))


def test_purchase_issues_signed_tickets(ticketd, shop):
    who = shop.buyers[1]
    started = time.time()
    r, p, tickets = buy(ticketd, shop, who, "H-B-1", "H-B-2")
    assert time.time() - started < 10
    assert p["status"] == "SUCCEEDED" and p["finalizedAt"] and p["orderId"]
    assert len(tickets) == 2
    for x in tickets:
        assert TICKET_KEYS <= set(x)
        assert x["status"] == "ISSUED" and x["eventId"] == shop.eid and x["checkedInAt"] is None
        assert x["code"].startswith("TK1") and len(x["code"]) == 110
    key = ticketd.get(f"{API}/orgs/{shop.org['id']}/ticket-key").json()["data"]
    assert key["algorithm"] == "Ed25519"
    for x in tickets:
        assert verify_code(x["code"], shop.eid, key["publicKey"]) == x["id"]
    with pytest.raises(Exception):
        verify_code(tickets[0]["code"], str(uuid.uuid4()), key["publicKey"])  # another event
    # reservation confirmed, seats sold, order paid
    res = ticketd.get(f"{API}/reservations/{r['id']}", headers=who["h"]).json()["data"]
    assert res["status"] == "CONFIRMED"
    seats = {x["seatCode"]: x for x in ticketd.get(f"{API}/events/{shop.eid}/seats", params={"limit": 500}).json()["data"]}
    assert seats["H-B-1"]["status"] == "SOLD" and seats["H-B-2"]["status"] == "SOLD"
    order = ticketd.get(f"{API}/orders/{p['orderId']}", headers=who["h"])
    assert order.status_code == 200 and order.json()["data"]["status"] == "PAID"
    assert order.json()["data"]["totalCents"] == 2 * (SEAT_PRICE + SEAT_FEES)
    assert len(order.json()["data"]["items"]) == 2
    mine = ticketd.get(f"{API}/me/orders", headers=who["h"]).json()
    assert p["orderId"] in [o["id"] for o in mine["data"]] and mine["meta"]["total"] >= 1
    one = ticketd.get(f"{API}/tickets/{tickets[0]['id']}", headers=who["h"])
    assert one.status_code == 200 and one.json()["data"]["seat"]["seatCode"] in ("H-B-1", "H-B-2")
    # strangers see nothing; staff see the event's orders and tickets
    stranger = user(ticketd)
    assert ticketd.get(f"{API}/tickets/{tickets[0]['id']}", headers=stranger["h"]).status_code == 404
    assert ticketd.get(f"{API}/orders/{p['orderId']}", headers=stranger["h"]).status_code == 404
    staff_orders = ticketd.get(f"{API}/events/{shop.eid}/orders", headers=shop.admin["h"])
    assert staff_orders.status_code == 200 and p["orderId"] in [o["id"] for o in staff_orders.json()["data"]]
    staff_tickets = ticketd.get(f"{API}/events/{shop.eid}/tickets", headers=shop.admin["h"])
    assert {x["id"] for x in tickets} <= {x["id"] for x in staff_tickets.json()["data"]}
    assert ticketd.get(f"{API}/events/{shop.eid}/orders", headers=stranger["h"]).status_code == 404
    # the events reached Kafka's outbox: ticket.issued per ticket, one seat.sold
    issued = outbox("ticket.issued", p["orderId"])
    assert len(issued) == 2 and all("code" not in e["data"]["ticket"] for e in issued)
    assert len(outbox("seat.sold", shop.eid)) >= 1
    # paying again for a confirmed reservation returns the same payment
    again = pay(ticketd, who, r["id"])
    assert again.status_code == 200 and again.json()["data"]["id"] == p["id"]


def test_ticket_key_unknown_org(ticketd):
    assert ticketd.get(f"{API}/orgs/{uuid.uuid4()}/ticket-key").status_code == 404
    assert ticketd.get(f"{API}/orgs/nope/ticket-key").status_code == 404


def test_check_in_once_even_when_racing(ticketd, shop):
    who = shop.buyers[2]
    _, _, tickets = buy(ticketd, shop, who, "H-B-3", "H-B-4")
    first, second = tickets
    path = f"{API}/events/{shop.eid}/check-ins"
    res = ticketd.post(path, json={"code": first["code"]}, headers=shop.admin["h"])
    assert res.status_code == 200, res.text
    checked = res.json()["data"]
    assert checked["id"] == first["id"] and checked["checkedInAt"]
    res = ticketd.post(path, json={"code": first["code"]}, headers=shop.admin["h"])
    assert res.status_code == 409 and codes(res) == ["ALREADY_CHECKED_IN"]
    assert checked["checkedInAt"] in res.text
    # two scanners at once: one wins
    results = fire([lambda s: s.post(ticketd.url(path), json={"code": second["code"]},
                                     headers=shop.admin["h"], timeout=30)] * 6)
    assert sorted(x.status_code for x in results) == [200] + [409] * 5
    # forged and malformed codes
    forged = second["code"][:-2] + ("AA" if second["code"][-2:] != "AA" else "BB")
    assert ticketd.post(path, json={"code": forged}, headers=shop.admin["h"]).status_code == 404
    assert ticketd.post(path, json={"code": "TK1short"}, headers=shop.admin["h"]).status_code == 404
    assert ticketd.post(path, json={"code": ""}, headers=shop.admin["h"]).status_code == 422
    assert ticketd.post(path, json={"code": 5}, headers=shop.admin["h"]).status_code == 400
    # a customer cannot check in; a stranger does not see the event's check-in desk
    assert ticketd.post(path, json={"code": second["code"]}, headers=who["h"]).status_code == 404
    # another event's genuine ticket: 422
    other = open_event(ticketd, sections=HALL_20)
    res = ticketd.post(f"{API}/events/{other.eid}/check-ins", json={"code": second["code"]},
                       headers=other.admin["h"])
    assert res.status_code in (404, 422)
    other_event_same_org = open_event(ticketd, base=shop, startsAt="2031-06-01T20:00:00Z")
    res = ticketd.post(f"{API}/events/{other_event_same_org.eid}/check-ins", json={"code": second["code"]},
                       headers=shop.admin["h"])
    assert res.status_code == 422 and codes(res) == ["TICKET_WRONG_EVENT"]


def test_refund_frees_the_seat_for_sale_again(ticketd, shop):
    who, next_buyer = shop.buyers[0], shop.buyers[1]
    r, p, tickets = buy(ticketd, shop, who, "H-B-5")
    staff = add_member(ticketd, shop.admin, shop.org, "ORG_STAFF")
    path = f"{API}/payments/{p['id']}/refund"
    assert ticketd.post(path, json={}, headers=staff["h"]).status_code == 403
    assert ticketd.post(path, json={}, headers=who["h"]).status_code in (403, 404)
    res = ticketd.post(path, json={"reason": "customer request"}, headers=shop.admin["h"])
    assert res.status_code == 200, res.text
    assert res.json()["data"]["status"] == "REFUNDED"
    res = ticketd.post(path, json={}, headers=shop.admin["h"])
    assert res.status_code == 409 and codes(res) == ["ALREADY_REFUNDED"]
    t = ticketd.get(f"{API}/tickets/{tickets[0]['id']}", headers=who["h"]).json()["data"]
    assert t["status"] == "REFUNDED"
    assert ticketd.get(f"{API}/orders/{p['orderId']}", headers=who["h"]).json()["data"]["status"] == "REFUNDED"
    res = ticketd.post(f"{API}/events/{shop.eid}/check-ins", json={"code": t["code"]}, headers=shop.admin["h"])
    assert res.status_code == 422
    assert len(outbox("payment.refunded", p["id"])) == 1
    assert db_json(f"SELECT count(*) FROM audit_logs WHERE action = 'payment.refunded' "
                   f"AND resource_id = '{p['id']}'") == [1]
    # the seat is on sale again and can be sold to someone else
    _, _, again = buy(ticketd, shop, next_buyer, "H-B-5")
    assert again[0]["status"] == "ISSUED" and again[0]["id"] != tickets[0]["id"]


def test_payment_after_the_hold_lapsed_is_routed_to_refund():
    t = Ticketd({**ENV, "RESERVATION_TTL_SECONDS": "5", "RESERVATION_EXPIRY_INTERVAL_SECONDS": "0.2"})
    try:
        t.wait_ready(90)
        s = open_event(t, sections=HALL_20)
        who = users(t, 1)[0]
        r, p = held_and_pending(t, s, who, "H-A-1")
        expired = poll(lambda: t.get(f"{API}/reservations/{r['id']}", headers=who["h"]).json()["data"]["status"],
                       lambda st: st == "EXPIRED", 10)
        assert expired == "EXPIRED"
        res = complete(t, who, p["id"])
        assert res.status_code == 200 and res.json()["data"]["processed"] is True
        done = poll(lambda: payment(t, who, p["id"]), lambda x: x["finalizedAt"] is not None, 15)
        assert done["status"] == "SUCCEEDED" and done["needsRefund"] is True and done["orderId"] is None
        assert tickets_of(t, who, timeout=0.5) == []
        assert len(outbox("payment.refund_required", p["id"])) == 1
        # staff can refund it; the seat was never sold
        res = t.post(f"{API}/payments/{p['id']}/refund", json={}, headers=s.admin["h"])
        assert res.status_code == 200 and res.json()["data"]["status"] == "REFUNDED"
    finally:
        assert t.stop() == 0, "".join(t.lines[-20:])


def test_poison_message_is_dead_lettered_and_later_ones_flow(ticketd, shop):
    before = metric(ticketd, "ticketd_kafka_dlq_total")
    # A payment.succeeded the consumer cannot parse, put on Kafka by the real publisher.
    db_json("SELECT to_json(outbox_append('payment.succeeded', 'payment', gen_random_uuid(), NULL, "
            "'{\"payment\": {\"id\": \"not-a-uuid\"}}'::jsonb, 'e2e-poison', '{}'::jsonb))")
    who = shop.buyers[2]
    _, p, tickets = buy(ticketd, shop, who, "H-B-6")
    assert tickets[0]["status"] == "ISSUED"
    assert poll(lambda: metric(ticketd, "ticketd_kafka_dlq_total"), lambda v: v >= before + 1, 15) >= before + 1
    dlq = subprocess.run(["kcat", "-C", "-b", "127.0.0.1:9092", "-t", "payment.succeeded.dlq", "-o", "-50",
                          "-e", "-q", "-f", "%h\n"], capture_output=True, text=True, timeout=60)
    assert "x-original-topic=payment.succeeded" in dlq.stdout and "x-attempts=" in dlq.stdout, dlq.stdout[-2000:]


def test_concurrent_purchases_get_their_tickets_exactly_once(ticketd):
    s = open_event(ticketd, sections=HALL_20)
    buyers = users(ticketd, 10)
    seats = list(s.seats.values())[:10]

    def purchase(i):
        def job(session):
            who = buyers[i]
            res = session.post(ticketd.url(f"{API}/reservations"), headers=who["h"], timeout=30,
                               json={"eventId": s.eid, "seatIds": [seats[i]], "idempotencyKey": "k-" + uuid.uuid4().hex})
            assert res.status_code == 201, res.text
            res = session.post(ticketd.url(f"{API}/payments"), headers=who["h"], timeout=30,
                               json={"reservationId": res.json()["data"]["id"]})
            pid = res.json()["data"]["id"]
            res = session.post(ticketd.url(f"{API}/dev/payments/{pid}/complete"), headers=who["h"],
                               timeout=30, json={"outcome": "SUCCEEDED"})
            assert res.status_code == 200, res.text
            return pid
        return job

    pids = fire([purchase(i) for i in range(10)])
    for i, who in enumerate(buyers):
        assert len(tickets_of(ticketd, who, n=1)) == 1
    ids = ",".join(f"'{p}'" for p in pids)
    assert db_json(f"SELECT count(*) FROM tickets t JOIN orders o ON o.id = t.order_id "
                   f"WHERE o.payment_id IN ({ids})") == [10]
    assert db_json(f"SELECT count(*) FROM event_seats WHERE event_id = '{s.eid}' AND status = 'SOLD'") == [10]
    stats = ticketd.get(f"{API}/events/{s.eid}/stats", headers=s.admin["h"])
    assert stats.status_code == 200, stats.text
    data = stats.json()["data"]
    assert data["seats"]["sold"] == 10 and data["seats"]["available"] == 10 and data["seats"]["total"] == 20
    assert data["orders"]["paid"] == 10 and data["orders"]["revenueCents"] == 10 * (SEAT_PRICE + SEAT_FEES)
    assert data["tickets"]["issued"] == 10 and data["reservations"]["confirmed"] == 10
    (seated,) = data["ticketTypes"]
    assert seated["sold"] == 10 and seated["available"] == 10 and seated["revenueCents"] == 10 * (SEAT_PRICE + SEAT_FEES)
    assert ticketd.get(f"{API}/events/{s.eid}/stats", headers=buyers[0]["h"]).status_code == 404
    assert ticketd.get(f"{API}/events/{s.eid}/stats").status_code == 401


def purchase_jobs(t, s, buyers, seat_ids):
    """One job per seat: reserve it, create the payment, complete the simulated checkout; each job
    returns the payment id."""
    def purchase(i):
        def job(session):
            who = buyers[i % len(buyers)]
            res = session.post(t.url(f"{API}/reservations"), headers=who["h"], timeout=60,
                               json={"eventId": s.eid, "seatIds": [seat_ids[i]],
                                     "idempotencyKey": "k-" + uuid.uuid4().hex})
            assert res.status_code == 201, res.text
            res = session.post(t.url(f"{API}/payments"), headers=who["h"], timeout=60,
                               json={"reservationId": res.json()["data"]["id"]})
            assert res.status_code == 201, res.text
            pid = res.json()["data"]["id"]
            res = session.post(t.url(f"{API}/dev/payments/{pid}/complete"), headers=who["h"],
                               timeout=60, json={"outcome": "SUCCEEDED"})
            assert res.status_code == 200 and res.json()["data"]["processed"], res.text
            return pid
        return job
    return [purchase(i) for i in range(len(seat_ids))]


def exactly_once(pids, event_id, timeout):
    """Waits until every payment is finalized; then each has one order and one ticket, and the
    event has no seat with two issued tickets."""
    ids = ",".join(f"'{p}'" for p in pids)
    done = poll(lambda: db_json(f"SELECT count(*) FROM payments WHERE id IN ({ids}) AND finalized_at IS NOT NULL")[0],
                lambda n: n == len(pids), timeout)
    assert done == len(pids)
    assert db_json(f"SELECT count(*) FROM orders WHERE payment_id IN ({ids})") == [len(pids)]
    assert db_json(f"SELECT count(*) FROM tickets t JOIN orders o ON o.id = t.order_id "
                   f"WHERE o.payment_id IN ({ids})") == [len(pids)]
    assert db_json(f"SELECT count(*) FROM (SELECT event_seat_id FROM tickets WHERE event_id = '{event_id}' "
                   f"AND status = 'ISSUED' GROUP BY event_seat_id HAVING count(*) > 1) x") == [0]


HALL_200 = [{"name": "Arena", "code": "AR", "sortOrder": 1,
             "rows": [{"name": f"R{r}", "sortOrder": r, "seatCount": 20} for r in range(1, 11)]}]


def test_purchases_during_a_kafka_outage_get_their_tickets_once_it_returns(ticketd, services):
    s = open_event(ticketd, sections=HALL_200)
    buyers = users(ticketd, 8)
    seat_ids = list(s.seats.values())[:200]
    services("stop", "kafka")
    stopped = time.time()
    try:
        pids = fire(purchase_jobs(ticketd, s, buyers, seat_ids), workers=16)
        ids = ",".join(f"'{p}'" for p in pids)
        # paid, but nothing can be issued while the broker is away
        assert db_json(f"SELECT count(*) FROM payments WHERE id IN ({ids}) AND status = 'SUCCEEDED'") == [200]
        time.sleep(max(0.0, 30 - (time.time() - stopped)))
        assert db_json(f"SELECT count(*) FROM payments WHERE id IN ({ids}) AND finalized_at IS NOT NULL") == [0]
    finally:
        services("start", "kafka")
    exactly_once(pids, s.eid, 120)
    sent = poll(lambda: db_json(f"SELECT count(*) FROM outbox_events WHERE aggregate_id IN ({ids}) "
                                f"AND status <> 'SENT'")[0], lambda n: n == 0, 60)
    assert sent == 0
    ticketd.wait_ready(90)
