"""TICKETD_CAPACITY_ENV of scripts/lib/env.sh for the Python benchmarks: what a benchmark of
capacity serves with (no rate limits, no shedding, the normal pool wait), defined once there."""
import os
import subprocess

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def capacity_env():
    out = subprocess.run(["bash", "-c", '. scripts/lib/env.sh && echo "$TICKETD_CAPACITY_ENV"'],
                         cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return dict(item.split("=", 1) for item in out.split())
