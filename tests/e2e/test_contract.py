"""The main flows' real responses against openapi/openapi.yaml (tests/e2e/contract.py): every status
is documented for its operation and every JSON body validates against the documented schema, the
refusals included.
"""
import time
import uuid

import pytest

from conftest import Ticketd
from contract import Contract
from layout import API, PASSWORD, get_event, make_venue, patch, seat_page
from test_auth import bearer
from test_orgs import make_org, user
from test_payments import ENV, complete, pay, payment, tickets_of
from test_reservations import HALL_20, cancel, open_event, reserve


@pytest.fixture(scope="module")
def checked():
    t = Ticketd(ENV)
    t.wait_ready(90)
    contract = Contract()
    contract.watch(t.session)
    yield t, contract
    assert t.stop() == 0, "".join(t.lines[-20:])


def test_the_main_flows_answer_as_the_document_says(checked):
    t, contract = checked
    # Accounts.
    buyer = user(t)
    res = t.post(f"{API}/auth/login", json={"email": buyer["email"], "password": PASSWORD})
    refresh = res.json()["data"]["refreshToken"]
    t.post(f"{API}/auth/refresh", json={"refreshToken": refresh})
    t.post(f"{API}/auth/login", json={"email": buyer["email"], "password": "wrong-password"})
    t.get(f"{API}/me", headers=buyer["h"])
    t.get(f"{API}/me")
    t.get(f"{API}/me", headers=bearer("not-a-token"))

    # Organizer: organization, venue, event with seated and general-admission types, published.
    s = open_event(t, sections=HALL_20, ga=10)
    org = s.org["id"]
    t.get(f"{API}/orgs", headers=s.admin["h"])
    t.get(f"{API}/orgs/{org}", headers=s.admin["h"])
    t.get(f"{API}/orgs/{org}/members", headers=s.admin["h"])
    t.get(f"{API}/orgs/{org}/venues", headers=s.admin["h"])
    t.get(f"{API}/venues/{s.venue['id']}", headers=s.admin["h"])
    t.get(f"{API}/orgs/{org}", headers=buyer["h"])  # not a member
    make_org(t, s.admin)
    t.post(f"{API}/orgs", json={"name": "x"}, headers=s.admin["h"])  # no slug
    t.post(f"{API}/orgs/{org}/venues", data=b"{not json", headers={**s.admin["h"], "Content-Type": "application/json"})
    make_venue(t, s.admin, org)
    get_event(t, s.eid)
    t.get(f"{API}/events", params={"limit": 5})
    t.get(f"{API}/events/{uuid.uuid4()}")
    seat_page(t, s.eid, limit=5)
    t.get(f"{API}/events/{s.eid}/ticket-types")
    patch(t, f"{API}/events/{s.eid}", json={"title": "Renamed"}, headers=s.admin["h"])

    # Customer: holds, a replay, a conflict, a general-admission hold, a cancel.
    seats = [s.seats["H-A-1"], s.seats["H-A-2"]]
    key = "contract-" + uuid.uuid4().hex
    held = reserve(t, buyer, s.eid, seats, key=key).json()["data"]
    reserve(t, buyer, s.eid, seats, key=key)  # replay: 200
    other = user(t)
    reserve(t, other, s.eid, [s.seats["H-A-1"]])  # taken: 409
    reserve(t, other, s.eid, [])  # nothing to reserve: 422
    reserve(t, other, s.eid, items=[(s.ga["id"], 2)])
    spare = reserve(t, other, s.eid, [s.seats["H-B-1"]]).json()["data"]
    cancel(t, other["h"], spare["id"])
    t.get(f"{API}/reservations/{held['id']}", headers=buyer["h"])
    t.get(f"{API}/reservations/{held['id']}", headers=other["h"])  # someone else's: 404
    t.get(f"{API}/me/reservations", headers=buyer["h"])
    t.get(f"{API}/events/{s.eid}/reservations", headers=s.admin["h"])

    # Payment, simulated checkout, asynchronous tickets.
    p = pay(t, buyer, held["id"]).json()["data"]
    pay(t, buyer, held["id"])  # a second payment for the hold: 409
    complete(t, buyer, p["id"])
    deadline = time.time() + 15
    while time.time() < deadline and not payment(t, buyer, p["id"]).get("orderId"):
        time.sleep(0.1)
    tickets = tickets_of(t, buyer, n=2)
    assert len(tickets) == 2
    t.get(f"{API}/orgs/{org}/ticket-key", headers=s.admin["h"])
    t.post(f"{API}/events/{s.eid}/check-ins", json={"code": tickets[0]["code"]}, headers=s.admin["h"])
    t.post(f"{API}/events/{s.eid}/check-ins", json={"code": tickets[0]["code"]}, headers=s.admin["h"])

    # Operations.
    t.get("/health/live")
    t.get("/health/ready")
    t.get("/api/v1/health/alerts")

    assert contract.violations == [], "\n".join(contract.violations)
    assert contract.checked >= 50, contract.checked
