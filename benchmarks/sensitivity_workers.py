"""Issue 17: wall time of one sensitivity scan with 1 and 2 embedded Celery workers.

The service stack of the worker tests (migrated SQLite, the API in-process, real Celery worker
processes on the embedded broker): one digits-cnn scan (winograd-direct, 4 layers x GRID points,
``chunk_size`` grid points per task) is submitted and timed from the POST to "succeeded".

    python benchmarks/sensitivity_workers.py    # writes benchmarks/results/sensitivity_workers.json
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.worker.stack import Stack, make_settings, wait_for  # noqa: E402
from tests.worker.test_sensitivity_worker import scan, submit_scan  # noqa: E402
from worker.sensitivity_tasks import scan_dispatcher  # noqa: E402

GRID = [round(0.1 * i, 1) for i in range(10)]


def one(workers: int) -> dict[str, float | int]:
    with tempfile.TemporaryDirectory(prefix="wp-sens-bench-") as tmp:
        stack = Stack(make_settings(Path(tmp)), Path(tmp))
        stack.app.state.enqueue_scan = scan_dispatcher(stack.dispatcher)
        try:
            for _ in range(workers):
                stack.start_worker()
            time.sleep(8)  # let the workers start before the clock does
            started = time.perf_counter()
            scan_id = submit_scan(stack, GRID, val_size=600)
            done = wait_for(lambda: (s := scan(stack, scan_id))["status"] == "succeeded" and s,
                            900, "the scan", interval_s=0.1)  # fmt: skip
            seconds = time.perf_counter() - started
        finally:
            stack.close()
    return {"workers": workers, "seconds": round(seconds, 1), "points": done["points_total"]}


def main() -> None:
    rows = [one(1), one(2)]
    result = {
        "benchmark": "sensitivity_workers",
        "model": "digits-cnn", "method": "winograd-direct", "grid": GRID, "val_size": 600,
        "chunk_size": 2, "cpu_count": os.cpu_count(),
        "load_average_after": [round(v, 2) for v in os.getloadavg()],
        "note": "2 CPU cores shared with other jobs (loaded machine); workers use 1 thread each",
        "runs": rows, "speedup": round(rows[0]["seconds"] / rows[1]["seconds"], 2),
    }  # fmt: skip
    out = ROOT / "benchmarks" / "results" / "sensitivity_workers.json"
    out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
