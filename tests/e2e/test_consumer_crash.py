"""The payment.succeeded consumer killed (SIGKILL) in the middle of a stream of payments, then
restarted on another instance: every payment ends with exactly one order and its tickets
(issue #6). No instance of this module runs workers except the victim and its successor, so they
are the only consumers of their group and the only publishers."""
import uuid

from conftest import Ticketd
from layout import db_json, poll
from test_payments import ENV
from test_purchases import HALL_200, exactly_once, purchase_jobs
from test_reservations import fire, open_event, users


def test_consumer_killed_mid_stream_and_restarted_issues_no_duplicates():
    api = Ticketd({**ENV, "WORKERS_ENABLED": "false"})
    try:
        s = open_event(api, sections=HALL_200)
        buyers = users(api, 4)
        seat_ids = list(s.seats.values())[:60]
        # A short lease: the successor's publisher re-sends what the victim had claimed.
        env = {**ENV, "KAFKA_CONSUMER_GROUP": "e2e-crash-" + uuid.uuid4().hex[:8], "OUTBOX_PUBLISH_LEASE_MS": "3000"}
        victim = Ticketd(env)
        try:
            victim.wait_ready(90)
            pids = fire(purchase_jobs(api, s, buyers, seat_ids), workers=8)
            ids = ",".join(f"'{p}'" for p in pids)
            started = poll(lambda: db_json(f"SELECT count(*) FROM payments WHERE id IN ({ids}) "
                                           f"AND finalized_at IS NOT NULL")[0], lambda n: n >= 1, 30)
            assert started >= 1
        finally:
            victim.proc.kill()
            victim.proc.wait(10)
        finalized = db_json(f"SELECT count(*) FROM payments WHERE id IN ({ids}) AND finalized_at IS NOT NULL")[0]
        print(f"{finalized} of {len(pids)} payments finalized when the consumer was killed")
        successor = Ticketd(env)
        try:
            exactly_once(pids, s.eid, 90)
        finally:
            assert successor.stop() == 0, "".join(successor.lines[-20:])
    finally:
        assert api.stop() == 0, "".join(api.lines[-20:])
