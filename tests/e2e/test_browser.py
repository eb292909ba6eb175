"""The seat-map page (web/, served at /app/events/:eventId) in headless Chromium: a hold made in one
browser context shows in another within 1 s (tests/browser/seatmap.test.mjs does the driving), and
the waiting room of a flash sale lets the buyer in, then the reserve carries the admission token
(tests/browser/queue.test.mjs), and the API reference at /docs renders every operation
(tests/browser/docs.test.mjs).

Needs Debian's `chromium`, Node.js and playwright-core from tests/browser/package-lock.json; all of
them come from scripts/install-deps, so a missing piece fails the test instead of skipping it.
"""
import json
import os
import shutil
import subprocess

from conftest import ROOT
from layout import API, PASSWORD
from test_reservations import open_event, users

BROWSER_DIR = os.path.join(ROOT, "tests", "browser")
ARTIFACTS = os.path.join(ROOT, "tests", "e2e", "artifacts")


def test_the_page_is_served_from_the_binary(ticketd):
    s = open_event(ticketd)
    page = ticketd.get(f"/app/events/{s.eid}")
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert "/app/assets/seatmap.js" in page.text
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    again = ticketd.get(f"/app/events/{s.eid}", headers={"If-None-Match": page.headers["ETag"]})
    assert again.status_code == 304
    js = ticketd.get("/app/assets/seatmap.js")
    assert js.status_code == 200 and js.headers["Content-Type"].startswith("text/javascript")
    assert "EventSource" in js.text
    assert ticketd.get("/app/assets/seatmap.css").status_code == 200
    assert ticketd.get("/app/assets/missing.js").status_code == 404
    assert ticketd.get("/app").status_code == 200


def browser_tools():
    """node and chromium, failing (not skipping) when scripts/install-deps did not install them."""
    node = shutil.which("node")
    assert node, "node is missing: run scripts/install-deps"
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    assert os.path.exists(chromium), "chromium is missing: run scripts/install-deps"
    assert os.path.isdir(os.path.join(BROWSER_DIR, "node_modules", "playwright-core")), \
        "playwright-core is missing: run scripts/install-deps (npm ci in tests/browser)"
    return node, chromium


def test_a_hold_in_one_browser_shows_in_another_within_a_second_then_the_purchase(ticketd):
    node, chromium = browser_tools()
    s = open_event(ticketd)
    [buyer] = users(ticketd, 1)
    seat = s.seats["ST-B-3"]
    for name in ("seatmap-watcher.png", "seatmap-buyer.png"):
        if os.path.exists(os.path.join(ARTIFACTS, name)):
            os.remove(os.path.join(ARTIFACTS, name))
    env = {**os.environ, "TICKETD_URL": ticketd.base, "EVENT_ID": s.eid, "SEAT_ID": seat,
           "EMAIL": buyer["email"], "PASSWORD": PASSWORD, "ARTIFACTS": ARTIFACTS, "CHROMIUM": chromium}
    res = subprocess.run([node, os.path.join(BROWSER_DIR, "seatmap.test.mjs")], cwd=BROWSER_DIR, env=env,
                         capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stdout + res.stderr
    result = json.loads(res.stdout.strip().splitlines()[-1])
    assert result["ok"] is True and result["latencyMs"] < 1000, result
    for name in ("seatmap-watcher.png", "seatmap-buyer.png"):
        assert os.path.getsize(os.path.join(ARTIFACTS, name)) > 1000
    # The purchase is real: the seat is sold and the buyer holds its ticket.
    res = ticketd.get(f"{API}/events/{s.eid}/seats", params={"status": "SOLD"})
    assert [x["id"] for x in res.json()["data"]] == [seat]
    tickets = ticketd.get(f"{API}/me/tickets", headers=buyer["h"]).json()["data"]
    assert [t["seat"]["id"] for t in tickets] == [seat] and tickets[0]["code"].startswith("TK1")


def test_the_waiting_room_shows_the_place_then_admits_and_the_reserve_carries_the_token(ticketd):
    node, chromium = browser_tools()
    s = open_event(ticketd)
    res = ticketd.session.patch(ticketd.url(f"{API}/events/{s.eid}"), headers=s.admin["h"], timeout=10,
                                json={"queueMode": "ON", "queueAdmitPerSecond": 1})
    assert res.status_code == 200, res.text
    ahead, buyer = users(ticketd, 2)
    # Someone ahead in line: the buyer waits about a second before being admitted.
    assert ticketd.post(f"{API}/events/{s.eid}/queue", headers=ahead["h"]).status_code == 200
    env = {**os.environ, "TICKETD_URL": ticketd.base, "EVENT_ID": s.eid, "SEAT_ID": s.seats["ST-B-4"],
           "EMAIL": buyer["email"], "PASSWORD": PASSWORD, "CHROMIUM": chromium}
    res = subprocess.run([node, os.path.join(BROWSER_DIR, "queue.test.mjs")], cwd=BROWSER_DIR, env=env,
                         capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stdout + res.stderr
    assert json.loads(res.stdout.strip().splitlines()[-1])["ok"] is True
    held = ticketd.get(f"{API}/events/{s.eid}/seats", params={"status": "RESERVED"}).json()["data"]
    assert [x["id"] for x in held] == [s.seats["ST-B-4"]]


def test_the_api_reference_renders_every_operation_from_the_served_document(ticketd):
    node, chromium = browser_tools()
    document = ticketd.get("/docs.json")
    assert document.status_code == 200 and document.headers["Content-Type"] == "application/json"
    paths = document.json()["paths"]
    methods = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
    operations = sum(1 for item in paths.values() for m in item if m in methods)
    env = {**os.environ, "TICKETD_URL": ticketd.base, "OPERATIONS": str(operations), "CHROMIUM": chromium}
    res = subprocess.run([node, os.path.join(BROWSER_DIR, "docs.test.mjs")], cwd=BROWSER_DIR, env=env,
                         capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stdout + res.stderr
    assert json.loads(res.stdout.strip().splitlines()[-1])["rendered"] == operations
