"""Generated API tests (issue #17): schemathesis, from PyPI (pinned in tests/e2e/schemathesis.txt and
installed by scripts/install-deps into .local/schemathesis), generates requests from the document the
server serves at /docs.json and checks every answer: no 5xx, every status documented for its
operation, every body valid against the documented schema, documented content types and headers,
schema-invalid requests refused, Allow headers, unsupported methods answered 405.

It runs once as an organizer and once as a customer of a seeded organization, whose ids are offered
to the generator for most path parameters and body references, so requests reach real rows instead
of answering 404 to random UUIDs. SCHEMATHESIS_EXAMPLES sets the examples per operation and per role
(default 100: about 15,000 requests in all); SCHEMATHESIS_SEED sets the seed (fixed by default,
`random` for a new one each run).
"""
import base64
import json
import os
import subprocess

import pytest

from conftest import ROOT, Ticketd
from layout import API
from test_orgs import user
from test_payments import ENV, pay, tickets_of, complete
from test_reservations import HALL_20, open_event, reserve

SCHEMATHESIS = os.path.join(ROOT, ".local", "schemathesis", "bin", "schemathesis")
EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "100"))
# A fixed seed keeps `make test` repeatable; SCHEMATHESIS_SEED=random explores new inputs.
SEED = os.environ.get("SCHEMATHESIS_SEED", "20261208")
MIN_REQUESTS = int(os.environ.get("SCHEMATHESIS_MIN_REQUESTS", "10000"))

# Not generated: the stream never ends (tests/e2e/test_stream.py and the fuzz target of Last-Event-ID
# cover it), and logout would revoke the session every other request is made with.
EXCLUDED = ["/api/v1/events/{eventId}/stream", "/api/v1/auth/logout"]


@pytest.fixture(scope="module")
def seeded():
    if not os.access(SCHEMATHESIS, os.X_OK):
        pytest.fail(f"{SCHEMATHESIS} missing: run scripts/install-deps")
    t = Ticketd(ENV)
    t.wait_ready(90)
    s = open_event(t, sections=HALL_20, ga=50)
    buyer = user(t)
    held = reserve(t, buyer, s.eid, [s.seats["H-A-1"]]).json()["data"]
    paid = reserve(t, buyer, s.eid, [s.seats["H-A-2"]]).json()["data"]
    p = pay(t, buyer, paid["id"]).json()["data"]
    complete(t, buyer, p["id"])
    ticket = tickets_of(t, buyer, n=1)[0]
    key = t.post(f"{API}/orgs/{s.org['id']}/api-keys", json={"name": "generated"}, headers=s.admin["h"])
    assert key.status_code == 201, key.text
    ids = {
        "orgId": [s.org["id"]],
        "venueId": [s.venue["id"]],
        "eventId": [s.eid],
        "ticketTypeId": [s.seated["id"], s.ga["id"]],
        "reservationId": [held["id"], paid["id"]],
        "paymentId": [p["id"]],
        "ticketId": [ticket["id"]],
        "orderId": [ticket["orderId"]],
        "userId": [s.admin["id"], buyer["id"]],
        "keyId": [key.json()["data"]["id"]],
        "seatId": [s.seats["H-A-3"], s.seats["H-B-1"]],
    }
    yield t, s, buyer, ids
    assert t.stop() == 0, "".join(t.lines[-40:])


def config(ids):
    """schemathesis.toml: the seeded ids, offered for 80% of the values of each parameter or body
    field that references one (the rest stay random, so the 404 paths are exercised too)."""
    lines = []
    for name, values in ids.items():
        lines.append(f"[dictionaries.{name}]")
        lines.append("values = " + json.dumps(values))
    lines.append("[parameters]")
    for name in ids:
        lines.append(f'"path.{name}" = {{ dictionary = "{name}", probability = 0.8 }}')
    for field in ("eventId", "reservationId", "ticketTypeId"):
        lines.append(f'"body.{field}" = {{ dictionary = "{field}", probability = 0.8 }}')
    lines.append('"body.seatIds[*]" = { dictionary = "seatId", probability = 0.8 }')
    lines.append('"body.items[*].ticketTypeId" = { dictionary = "ticketTypeId", probability = 0.8 }')
    return "\n".join(lines) + "\n"


def run(t, token, ids, tmp, role, shed_log):
    os.makedirs(tmp, exist_ok=True)
    cfg = os.path.join(tmp, "schemathesis.toml")
    with open(cfg, "w", encoding="utf-8") as f:
        f.write(config(ids))
    report = os.path.join(tmp, f"{role}.ndjson")
    location = os.environ.get("SCHEMATHESIS_SCHEMA") or t.url("/docs.json")
    cmd = [SCHEMATHESIS, "--config-file", cfg, "run", location, "--url", t.base,
           "--checks", "all", "--max-examples", str(EXAMPLES), "--workers", "2",
           "--phases", "examples,coverage,fuzzing", "--request-timeout", "10", "--continue-on-failure",
           "--header", f"Authorization: Bearer {token}",
           "--report", "ndjson", "--report-ndjson-path", report, "--no-color"]
    for path in EXCLUDED:
        cmd += ["--exclude-path", path]
    if SEED != "random":
        cmd += ["--seed", SEED]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "schemathesis_hooks", "SCHEMATHESIS_SHED_LOG": shed_log,
           "PYTHONPATH": os.path.dirname(os.path.abspath(__file__))}
    # In the temporary folder: schemathesis keeps a cache (.schemathesis/) where it runs.
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, check=False, env=env, cwd=tmp)
    return out, report



def summarize(report):
    """(requests sent, failures, errors of schemathesis itself): each failure once per (check,
    operation, status, error codes), with the request of one instance."""
    requests_sent = 0
    failures = {}
    tool_errors = []
    with open(report, encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            if "NonFatalError" in record:
                error = record["NonFatalError"]
                tool_errors.append(f"{error.get('label')}: {error['value']['type']}: {error['value']['message']}")
            event = record.get("ScenarioFinished")
            if not event:
                continue
            interactions = event["recorder"].get("interactions", {})
            requests_sent += len(interactions)
            for case_id, checks in event["recorder"].get("checks", {}).items():
                for check in checks:
                    if check["status"] != "failure":
                        continue
                    reply = interactions.get(case_id, {}).get("response") or {}
                    body = base64.b64decode((reply.get("content") or {}).get("$base64", "")) or b"{}"
                    try:
                        codes = ",".join(e.get("code", "?") for e in json.loads(body).get("errors", []))
                    except (ValueError, AttributeError):
                        codes = body[:80].decode("utf-8", "replace")
                    info = check["failure_info"]["failure"]
                    key = (check["name"], info["operation"], reply.get("status_code"), codes)
                    request = interactions.get(case_id, {}).get("request", {})
                    sent = base64.b64decode((request.get("body") or {}).get("$base64", "")).decode("utf-8", "replace")
                    failures.setdefault(key, f"{request.get('method')} {request.get('uri')} {sent[:400]}")
    return requests_sent, failures, tool_errors



def test_generated_requests_get_documented_answers(seeded, tmp_path):
    t, s, buyer, ids = seeded
    total, problems = 0, []
    shed_log = str(tmp_path / "shed.log")
    open(shed_log, "w", encoding="utf-8").close()
    for role, who in (("organizer", s.admin), ("customer", buyer)):
        token = who["h"]["Authorization"].split()[1]
        out, report = run(t, token, ids, str(tmp_path), role, shed_log)
        assert os.path.exists(report), out.stdout[-3000:] + out.stderr[-3000:]
        sent, failures, tool_errors = summarize(report)
        total += sent
        for (check, operation, status, codes), example in sorted(failures.items(), key=str):
            problems.append(f"[{role}] {check}: {operation} -> {status} {codes}\n    {example}")
        # schemathesis exits 1 on an error of its own too. Seen: CPython 3.11's "AST constructor
        # recursion depth mismatch" while generating one operation's coverage cases. One such
        # error per role is reported and tolerated (the operation's other phases still run);
        # more, or an exit without a report of why, fails.
        for error in tool_errors:
            print(f"[{role}] schemathesis error (not the API's): {error}")
        if len(tool_errors) > 1 or (out.returncode != 0 and not failures and not tool_errors):
            problems.append(f"[{role}] schemathesis exited {out.returncode}: {tool_errors}\n{out.stdout[-3000:]}")
    with open(shed_log, encoding="utf-8") as f:
        shed = f.readlines()
    print(f"schemathesis: {total} requests, {len(problems)} problems, {len(shed)} answered 503 with Retry-After")
    assert not problems, "\n".join(problems)
    # Deliberate 503s are allowed while bulk writes queue behind one event's lock, not as a habit.
    assert len(shed) <= total // 1000, "".join(shed[:20])
    assert total >= MIN_REQUESTS, f"only {total} requests were generated"
    assert t.proc.poll() is None, "ticketd stopped during the run"
