"""Service latencies that the tests assert only as behaviour: the digits demo's wall time from
submit to succeeded (README goal: under 60 s on 2 CPU cores) and the cancel latency (the time
from POST /cancel to the run's status "cancelled"; goal: under 10 s). A real Celery worker on
the embedded broker, the API in process (the worker tests' stack). Writes a results file.

    python benchmarks/latency.py [--repeats 3] [--out benchmarks/results/latency.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from provenance import commit, dirty  # noqa: E402

from tests.worker.stack import Stack, make_settings, slow_recipe, wait_for  # noqa: E402

DEMO = ROOT / "recipes" / "digits-demo.yaml"
GOALS_S = {"demo_s": 60.0, "cancel_s": 10.0}
GUARD_S = 900.0  # a hung run ends the benchmark instead of blocking it


def demo_seconds(stack: Stack) -> float:
    """Submit the demo recipe and wait for it to succeed; the wall time in seconds."""
    recipe = yaml.safe_load(DEMO.read_text())
    started = time.monotonic()
    run_id = stack.submit(recipe)
    run = stack.wait_status(run_id, ("succeeded", "failed", "cancelled"), GUARD_S)
    elapsed = time.monotonic() - started
    if run["status"] != "succeeded":
        raise RuntimeError(f"demo run {run_id} ended {run['status']}: {run.get('error')}")
    return elapsed


def cancel_seconds(stack: Stack) -> float:
    """Cancel a run in the middle of a long stage; seconds until its status is cancelled."""
    run_id = stack.submit(slow_recipe(epochs=30))
    wait_for(lambda: stack.epochs_done(run_id, 0) >= 2, GUARD_S, "stage 0 to be under way")
    asked = time.monotonic()
    reply = stack.client.post(f"/api/v1/runs/{run_id}/cancel")
    reply.raise_for_status()
    run = stack.wait_status(run_id, ("cancelled", "succeeded", "failed"), GUARD_S)
    elapsed = time.monotonic() - asked
    if run["status"] != "cancelled":
        raise RuntimeError(f"run {run_id} ended {run['status']} instead of cancelled")
    return elapsed


def summarise(values: list[float], goal: float) -> dict[str, Any]:
    return {
        "values": [round(v, 3) for v in values],
        "median": round(statistics.median(values), 3),
        "max": round(max(values), 3),
        "goal": goal,
        "within_goal": max(values) < goal,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/latency.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wp-latency-") as folder:
        tmp = Path(folder)
        stack = Stack(make_settings(tmp), tmp)
        try:
            stack.start_worker()
            demo = [demo_seconds(stack) for _ in range(args.repeats)]
            cancel = [cancel_seconds(stack) for _ in range(args.repeats)]
        finally:
            stack.close()
    results = {
        "benchmark": "latency",
        "commit": commit(),
        "dirty": dirty(),
        "repeats": args.repeats,
        "demo_s": summarise(demo, GOALS_S["demo_s"]),
        "cancel_s": summarise(cancel, GOALS_S["cancel_s"]),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
