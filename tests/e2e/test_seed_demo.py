"""`ticketd seed-demo`: the demo `make run` shows, created once however often it runs."""
import os
import re
import subprocess

import requests

from conftest import BIN, SECURE_ENV, TEST_DATABASE_URL

API = "/api/v1"


def seed():
    env = dict(os.environ, DATABASE_URL=TEST_DATABASE_URL, ENV_FILE="/dev/null", **SECURE_ENV)
    out = subprocess.run([BIN, "seed-demo"], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    event = re.search(r"event\s+Demo Concert\s+([0-9a-f-]{36})", out.stdout)
    assert event, out.stdout
    assert "demo-admin@example.com / demo-admin-pass" in out.stdout
    assert "demo-customer@example.com / demo-customer-pass" in out.stdout
    return event.group(1)


def test_seed_demo_is_idempotent_and_publishes_a_sellable_event(ticketd):
    first = seed()
    assert seed() == first  # a second run creates nothing new

    event = ticketd.get(f"{API}/events/{first}").json()["data"]  # public: it is published
    assert event["status"] == "PUBLISHED"
    assert event["seatCount"] >= 2000
    kinds = sorted(t["kind"] for t in event["ticketTypes"])
    assert kinds == ["GA", "SEATED", "SEATED"]
    assert all(t["priceCents"] > 0 for t in event["ticketTypes"])
    # every seat is priced through a seated ticket type
    seats = ticketd.get(f"{API}/events/{first}/seats", params={"limit": 500}).json()
    assert seats["meta"]["total"] == event["seatCount"]
    assert all(s["priceCents"] and s["ticketTypeId"] for s in seats["data"])

    # the printed credentials work
    for email, password in [("demo-admin@example.com", "demo-admin-pass"),
                            ("demo-customer@example.com", "demo-customer-pass")]:
        res = ticketd.post(f"{API}/auth/login", json={"email": email, "password": password})
        assert res.status_code == 200, res.text
    listed = ticketd.get(f"{API}/events", params={"q": "Demo Concert", "limit": 100}).json()["data"]
    assert [e["id"] for e in listed].count(first) == 1
