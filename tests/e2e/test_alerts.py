"""/health/alerts: windowed rules, 503 while a critical one fires, never latched (SPEC §8)."""
import re
import subprocess
import time
import pytest

from conftest import BIN, running_ticketd
from layout import db_json, scenario

RULES = {"readiness", "http_5xx_ratio", "reserve_p99_seconds", "outbox_failure_ratio",
         "outbox_backlog_age_seconds", "webhook_failure_ratio", "dlq_growth", "consumer_retries",
         "consumer_lag", "db_pool_saturation", "expiry_lag_seconds", "redis_down", "kafka_down"}
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def rules_of(res):
    return {r["name"]: r for r in res.json()["data"]["rules"]}


def wait_status(t, status, timeout=15, path="/health/alerts"):
    deadline = time.time() + timeout
    res = None
    while time.time() < deadline:
        res = t.get(path)
        if res.status_code == status:
            return res
        time.sleep(0.2)
    raise AssertionError(f"{path} never answered {status}: {res.status_code} {res.text}")


@pytest.mark.parametrize("prefix", ["", "/api/v1"])
def test_every_rule_is_listed_with_its_state_at_root_and_under_the_api_base(ticketd, prefix):
    ticketd.wait_ready()
    res = wait_status(ticketd, 200, path=prefix + "/health/alerts")
    body = res.json()
    assert body["success"] is True and body["meta"]["requestId"] == res.headers["X-Request-Id"]
    assert body["data"]["status"] in ("ok", "warning")
    rules = rules_of(res)
    assert set(rules) == RULES
    for r in rules.values():
        assert set(r) == {"name", "severity", "state", "value", "threshold", "window", "since"}, r
        assert r["severity"] in ("warning", "critical")
        assert r["state"] in ("ok", "firing")
        assert isinstance(r["value"], (int, float)) and isinstance(r["threshold"], (int, float))
        assert isinstance(r["window"], int) and r["window"] >= 0
        assert ISO.match(r["since"]), r
    assert rules["readiness"]["severity"] == "critical" and rules["readiness"]["state"] == "ok"
    assert body["data"]["firing"] == sum(r["state"] == "firing" for r in rules.values())


def test_a_critical_rule_answers_503_with_every_rule_and_clears_once_its_window_passes():
    env = {"ALERT_SAMPLE_SECONDS": "0.2", "ALERT_MIN_EVENTS": "4",
           "ALERT_WEBHOOK_FAILURE_RATIO_SEVERITY": "critical",
           "ALERT_WEBHOOK_FAILURE_RATIO_WINDOW_SECONDS": "3"}
    with running_ticketd(env) as t:
        t.wait_ready()
        before = wait_status(t, 200)
        assert rules_of(before)["webhook_failure_ratio"]["window"] == 3
        # Three unsigned webhooks are below the minimum number of events: nobody gets paged.
        for _ in range(3):
            assert t.post("/api/v1/payments/webhook", data=b"{}",
                          headers={"Content-Type": "application/json"}).status_code == 401
        assert t.get("/health/alerts").status_code == 200
        assert t.post("/api/v1/payments/webhook", data=b"{}",
                      headers={"Content-Type": "application/json"}).status_code == 401
        fired_at = time.time()
        res = wait_status(t, 503, timeout=5)
        body = res.json()
        assert body["success"] is False
        assert [e["code"] for e in body["errors"]] == ["ALERT_FIRING"]
        assert body["errors"][0]["field"] == "webhook_failure_ratio"
        assert int(res.headers["Retry-After"]) >= 1
        assert body["data"]["status"] == "critical"
        rules = rules_of(res)
        assert set(rules) == RULES  # the body still lists every rule
        fired = rules["webhook_failure_ratio"]
        assert fired["state"] == "firing" and fired["value"] == 1 and fired["threshold"] == 0.2
        assert fired["severity"] == "critical"
        # Windowed, not a lifetime counter: with no new failures it clears after the window.
        cleared = wait_status(t, 200, timeout=10)
        assert time.time() - fired_at >= 2
        rule = rules_of(cleared)["webhook_failure_ratio"]
        assert rule["state"] == "ok" and rule["value"] == 0
        assert rule["since"] > fired["since"]


def test_invalid_alert_settings_are_all_reported_at_start():
    res = subprocess.run([BIN, "config-check"], capture_output=True, text=True,
                         env={"ENV_FILE": "/dev/null", "NODE_ENV": "development",
                              "ALERT_READINESS_SEVERITY": "loud",
                              "ALERT_HTTP_5XX_RATIO_THRESHOLD": "-1",
                              "ALERT_DLQ_GROWTH_WINDOW_SECONDS": "ten",
                              "ALERT_SAMPLE_SECONDS": "0"})
    assert res.returncode != 0
    for name in ("ALERT_READINESS_SEVERITY", "ALERT_HTTP_5XX_RATIO_THRESHOLD",
                 "ALERT_DLQ_GROWTH_WINDOW_SECONDS", "ALERT_SAMPLE_SECONDS"):
        assert name in res.stderr, res.stderr



def test_a_kafka_outage_fires_the_outbox_backlog_age_and_it_clears_once_kafka_is_back(services):
    env = {"ALERT_SAMPLE_SECONDS": "0.5", "ALERT_OUTBOX_BACKLOG_AGE_SECONDS_THRESHOLD": "3",
           "ALERT_KAFKA_DOWN_WINDOW_SECONDS": "2"}
    with running_ticketd(env) as t:
        t.wait_ready()
        wait_status(t, 200)
        services("stop", "kafka")
        try:
            # A new event commits with its event.created outbox row; nothing can publish it now.
            event_id = scenario(t).event["id"]
            assert db_json(f"SELECT to_json(status) FROM outbox_events WHERE aggregate_id = '{event_id}'") == ["PENDING"]
            # Readiness (Kafka is a dependency) fires at once; the backlog once its row is 3 s old.
            deadline = time.time() + 30
            while True:
                res = t.get("/health/alerts")
                fields = [e["field"] for e in res.json().get("errors", [])]
                if res.status_code == 503 and "outbox_backlog_age_seconds" in fields:
                    break
                assert time.time() < deadline, res.text
                time.sleep(0.2)
            assert "readiness" in fields
            rules = rules_of(res)
            assert rules["outbox_backlog_age_seconds"]["value"] > 3
            assert rules["kafka_down"]["state"] == "firing"
        finally:
            services("start", "kafka")
        # The backlog drains once the broker is back, and the alert clears: nothing is latched.
        cleared = wait_status(t, 200, timeout=90)
        rules = rules_of(cleared)
        assert rules["outbox_backlog_age_seconds"]["state"] == "ok"
        assert rules["kafka_down"]["state"] == "ok"
