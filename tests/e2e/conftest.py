"""Black-box fixtures: start the real ticketd binary against the real local services."""
import contextlib
import json
import os
import signal
import subprocess
import threading
import time

import pytest
import requests

from contract import Contract

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("TICKETD_BIN", os.path.join(ROOT, "build", "release", "src", "ticketd"))
SERVICES = os.environ.get("TICKETD_SERVICES", os.path.join(ROOT, "scripts", "services"))
TEST_DATABASE_URL = os.environ.get(
    "TEST_DATABASE_URL", "postgres://ticketd:ticketd@127.0.0.1:5555/ticketd_test")

# What every instance under test runs with: as strict as production (NODE_ENV=test requires
# every secret; nothing development-only), plus the simulated provider's checkout switched on.
# Commands that share data with those instances (seed-demo seals ticket keys) use it too.
SECURE_ENV = {
    "NODE_ENV": "test",
    "JWT_SECRET": "e2e-jwt-secret-0123456789-0123456789-0123456789",
    "TICKET_SIGNING_SECRET": "e2e-ticket-signing-secret-0123456789-0123456789",
    # modules that sign webhooks set their own
    "PAYMENT_WEBHOOK_SECRET": "e2e-default-webhook-secret-0123456789",
    "PAYMENT_SIMULATOR": "on",
}


class Ticketd:
    """One ticketd process on a free port; its JSON log lines are kept for assertions."""

    def __init__(self, extra_env=None):
        env = dict(os.environ)
        env.update(SECURE_ENV)
        env.update({
            "PORT": "0",
            "HOST": "127.0.0.1",
            "DATABASE_URL": TEST_DATABASE_URL,
            "ENV_FILE": "/dev/null",
            "LOG_LEVEL": "info",
            # The suite drives hundreds of accounts from one address in minutes; the limits have
            # their own tests (test_limits.py), which switch them back on.
            "RATE_LIMIT_ENABLED": "false",
        })
        env.update(extra_env or {})
        self.proc = subprocess.Popen([BIN, "serve"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     env=env, text=True, bufsize=1)
        self.lines = []
        self.port = None
        ready = threading.Event()

        def pump():
            for line in self.proc.stdout:
                self.lines.append(line)
                if self.port is None and '"message":"listening"' in line:
                    self.port = json.loads(line)["port"]
                    ready.set()
            ready.set()

        self.reader = threading.Thread(target=pump, daemon=True)
        self.reader.start()
        if not ready.wait(30) or self.port is None:
            self.proc.kill()
            raise RuntimeError("ticketd did not start:\n" + "".join(self.lines[-30:]))
        self.base = f"http://127.0.0.1:{self.port}"
        self.session = requests.Session()
        # An instance serving the reference elsewhere (API_DOCS_PATH) answers at paths the document
        # cannot name.
        if CONTRACT is not None and "API_DOCS_PATH" not in (extra_env or {}):
            CONTRACT.watch(self.session)

    def url(self, path):
        return self.base + path

    def get(self, path, **kw):
        return self.session.get(self.url(path), timeout=10, **kw)

    def post(self, path, **kw):
        return self.session.post(self.url(path), timeout=10, **kw)

    def wait_ready(self, timeout=60):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            last = self.get("/health/ready")
            if last.status_code == 200:
                return last
            time.sleep(0.2)
        raise AssertionError(f"not ready after {timeout}s: {last.status_code} {last.text}")

    def log_records(self):
        out = []
        for line in list(self.lines):
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"unparsed": line})
        return out

    def stop(self, timeout=20):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            self.reader.join(5)


@contextlib.contextmanager
def running_ticketd(env):
    """An extra instance for the duration of a `with`; it must shut down cleanly."""
    t = Ticketd(env)
    try:
        yield t
    finally:
        rc = t.stop()
    assert rc == 0, "".join(t.lines[-30:])


# Every answer any ticketd of the suite gives through its session is checked against
# openapi/openapi.yaml (tests/e2e/contract.py); a violation fails the run at its end.
CONTRACT = None


@pytest.fixture(scope="session", autouse=True)
def contract():
    global CONTRACT  # pylint: disable=global-statement
    CONTRACT = Contract()
    yield CONTRACT
    violations = sorted(set(CONTRACT.violations))
    CONTRACT = None
    assert not violations, f"{len(violations)} answers differ from openapi.yaml:\n" + "\n".join(violations[:100])


@pytest.fixture(scope="session", autouse=True)
def migrated():
    subprocess.run([BIN, "migrate"], check=True, capture_output=True,
                   env={**os.environ, "DATABASE_URL": TEST_DATABASE_URL, "ENV_FILE": "/dev/null"})


@pytest.fixture(scope="module")
def ticketd():
    t = Ticketd()
    yield t
    assert t.stop() == 0, "".join(t.lines[-20:])


@pytest.fixture()
def services():
    """Runs scripts/services; used by fault tests to stop and start a dependency."""
    def run(*args):
        subprocess.run([SERVICES, *args], check=True, capture_output=True, timeout=180)
    return run
