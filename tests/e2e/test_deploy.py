"""deploy/: what can be verified on a machine without a container engine (README, "Deploy").

Prometheus' files pass promtool; the balancer's configuration passes `haproxy -c` (and runs in
test_cluster.py); the alert rules mirror /health/alerts; every metric the rules and the Grafana
dashboard use exists in /metrics; the Dockerfile, compose file and systemd units say what they must.
"""
import json
import os
import re
import subprocess

import pytest
import yaml

from conftest import ROOT, running_ticketd

DEPLOY = os.path.join(ROOT, "deploy")
METRIC = re.compile(r"\bticketd_[a-z0-9_]+")


@pytest.fixture(scope="module")
def deployed():
    """An instance configured as deployed: rate limits on (the suite's default instance has them off)."""
    with running_ticketd({"RATE_LIMIT_ENABLED": "true"}) as t:
        t.wait_ready()
        yield t


def run(*args, env=None):
    res = subprocess.run(args, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


def served_metrics(t):
    """Metric names in /metrics, histogram series (_bucket, _sum, _count) included."""
    text = t.get("/metrics").text
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            names.add(name)
            if kind == "histogram":
                names |= {name + "_bucket", name + "_sum", name + "_count"}
    return names


def alert_rules():
    with open(os.path.join(DEPLOY, "prometheus", "alerts.yml"), encoding="utf-8") as f:
        return [r for g in yaml.safe_load(f)["groups"] for r in g["rules"]]


def test_promtool_accepts_the_prometheus_configuration_and_rules():
    run("promtool", "check", "config", os.path.join(DEPLOY, "prometheus", "prometheus.yml"))
    out = run("promtool", "check", "rules", os.path.join(DEPLOY, "prometheus", "alerts.yml"))
    assert "SUCCESS" in out


def test_haproxy_accepts_the_balancer_configuration():
    run("haproxy", "-c", "-f", os.path.join(DEPLOY, "haproxy.cfg"),
        env={"BALANCER_BIND": "127.0.0.1:18080", "TICKETD_1": "127.0.0.1:13001", "TICKETD_2": "127.0.0.1:13002"})


def test_prometheus_alerts_mirror_the_rules_of_health_alerts(deployed):
    res = deployed.get("/health/alerts")
    served = {r["name"]: r for r in res.json()["data"]["rules"]}
    mirrored = {r["labels"]["rule"]: r for r in alert_rules() if r["labels"]["rule"] != "scrape"}
    assert set(mirrored) == set(served)
    for name, rule in served.items():
        alert = mirrored[name]
        assert alert["labels"]["severity"] == rule["severity"], name
        assert float(alert["annotations"]["threshold"]) == rule["threshold"], name
        assert int(alert["annotations"]["window"]) == rule["window"], name


@pytest.mark.parametrize("limits", ["on", "off"])
def test_every_metric_of_the_alerts_and_the_dashboard_exists(request, limits):
    # With the rate limits off too: a family that appeared only with them on left panels empty.
    exists = served_metrics(request.getfixturevalue("deployed" if limits == "on" else "ticketd"))
    used = {m for r in alert_rules() for m in METRIC.findall(r["expr"])}
    with open(os.path.join(DEPLOY, "grafana", "dashboards", "ticketd.json"), encoding="utf-8") as f:
        dashboard = json.load(f)
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert len(exprs) >= 12
    used |= {m for e in exprs for m in METRIC.findall(e)}
    assert used - exists == set(), "not in /metrics"
    # What an operator watches during an on-sale has a panel.
    for needed in ("ticketd_http_requests_total", "ticketd_http_request_duration_seconds_bucket",
                   "ticketd_reservations_total", "ticketd_reservations_expired_total",
                   "ticketd_outbox_backlog", "ticketd_kafka_consumer_lag", "ticketd_sse_streams_open",
                   "ticketd_rate_limited_total", "ticketd_shed_total", "ticketd_db_pool_connections"):
        assert any(needed in e for e in exprs), needed


def test_grafana_provisioning_points_at_the_dashboard_and_prometheus():
    with open(os.path.join(DEPLOY, "grafana", "provisioning", "datasources", "prometheus.yml")) as f:
        source = yaml.safe_load(f)["datasources"][0]
    with open(os.path.join(DEPLOY, "grafana", "dashboards", "ticketd.json")) as f:
        dashboard = json.load(f)
    uids = {t["datasource"]["uid"] for p in dashboard["panels"] for t in p["targets"]}
    assert uids == {source["uid"]} and source["type"] == "prometheus"


def test_compose_runs_two_instances_behind_the_balancer_with_every_dependency():
    with open(os.path.join(DEPLOY, "compose.yaml")) as f:
        compose = yaml.safe_load(f)
    services = compose["services"]
    assert {"postgres", "redis", "kafka", "migrate", "ticketd-1", "ticketd-2", "balancer", "prometheus",
            "grafana"} <= set(services)
    assert services["postgres"]["image"].startswith("postgres:15")
    assert services["redis"]["image"].startswith("redis:7")
    for name in ("ticketd-1", "ticketd-2"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert "TRUSTED_PROXIES" in services[name]["environment"]
    assert services["migrate"]["command"] == ["migrate"]
    balancer_env = services["balancer"]["environment"]
    assert {balancer_env["TICKETD_1"], balancer_env["TICKETD_2"]} == {"ticketd-1:3000", "ticketd-2:3000"}


def test_the_image_is_multi_stage_unprivileged_and_health_checked():
    with open(os.path.join(DEPLOY, "Dockerfile")) as f:
        text = f.read()
    stages = re.findall(r"^FROM (\S+)", text, re.M)
    assert stages[0].startswith("debian:12") and stages[-1] == "debian:12-slim" and len(stages) == 2
    assert re.search(r"^USER ticketd", text, re.M)
    assert re.search(r"^HEALTHCHECK .*\n?.*/health/ready", text, re.M)
    assert "npm ci --ignore-scripts" in text


@pytest.mark.parametrize("unit", ["ticketd.service", "ticketd-migrate.service"])
def test_systemd_units_run_the_binary_unprivileged(unit):
    with open(os.path.join(DEPLOY, "systemd", unit)) as f:
        text = f.read()
    keys = dict(re.findall(r"^(\w+)=(.*)$", text, re.M))
    assert keys["User"] == "ticketd" and keys["NoNewPrivileges"] == "yes"
    assert keys["ExecStart"].startswith("/usr/local/bin/ticketd ")
    assert keys["EnvironmentFile"] == "/etc/ticketd/ticketd.env"
