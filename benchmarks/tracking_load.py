"""Issue 15's parts of benchmarks/api_load.py: the final-metric columns of the seeded runs, the
filtered and metric-sorted list scenarios, and the tracking API's ingestion rate (per-layer rows
per second through REST from one keep-alive client)."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import quote

import httpx

METRIC_COLUMNS = "external, final_top1, final_winograd_sparsity, final_mult_reduction, final_loss"
PHI = 0.6180339887


def metric_values(i: int, status: str) -> tuple[Any, ...]:
    """(external, top1, sparsity, reduction, loss) of seeded run ``i``: spread evenly, none for
    queued runs (they have not reported yet), every 10th run external."""
    if status == "queued":
        return (i % 10 == 0, None, None, None, None)
    top1 = 0.3 + 0.65 * ((i * PHI) % 1.0)
    sparsity = (i * 0.4142135 + 0.1) % 0.95
    return (i % 10 == 0, top1, sparsity, 1.0 + 8.0 * sparsity, 1.0 - top1)


def list_scenarios(project_id: int) -> dict[str, list[str]]:
    """GET /runs filtered by a final metric and sorted by another (all projects, one project)."""
    base = f"/api/v1/runs?filter={quote('top1>=0.7')}&sort=winograd_sparsity&limit=50"
    return {
        "list filtered top1>=0.7, sorted by sparsity": [base],
        "same, one project": [f"{base}&project={project_id}"],
    }


def measure_ingestion(
    base_url: str, token: str, project_id: int, rows_per_request: int, requests: int
) -> dict[str, Any]:
    """Create an external run, post ``requests`` batches of ``rows_per_request`` layer rows
    (bodies encoded before the clock starts), then replay one batch (it must add nothing)."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=120) as http:
        body = {"project": project_id, "name": "ingest", "description": "benchmark"}
        run = http.post("/api/v1/tracking/runs", json=body)
        run.raise_for_status()
        url = f"/api/v1/tracking/runs/{run.json()['id']}/batches"
        layers_per_epoch = 100
        bodies = []
        for r in range(requests):
            rows = []
            for n in range(rows_per_request):
                index = r * rows_per_request + n
                epoch, layer = divmod(index, layers_per_epoch)
                rows.append(
                    {
                        "stage": 0,
                        "epoch": epoch,
                        "layer": f"features.conv{layer // 2}",
                        "domain": "winograd" if layer % 2 else "spatial",
                        "numel": 36864,
                        "nnz": 20000,
                        "sparsity": 0.4575,
                        "multiplications": 1_000_000,
                        "mult_direct": 2_359_296,
                    }
                )
            bodies.append(json.dumps({"key": f"b{r}", "layers": rows}).encode())
        http.post(url, content=json.dumps({"metrics": []}).encode())  # warm the connection
        started = time.perf_counter()
        for content in bodies:
            answer = http.post(url, content=content)
            answer.raise_for_status()
            assert answer.json()["layers"] == rows_per_request, answer.text
        elapsed = time.perf_counter() - started
        replay = http.post(url, content=bodies[0]).json()
        unkeyed = json.loads(bodies[0])
        del unkeyed["key"]
        again = http.post(url, json=unkeyed).json()
    return {
        "scenario": "ingest layer rows",
        "rows_per_request": rows_per_request,
        "requests": requests,
        "rows": rows_per_request * requests,
        "seconds": round(elapsed, 3),
        "rows_per_s": round(rows_per_request * requests / elapsed),
        "retry_replayed": replay["replayed"],
        "retry_added_rows": again["layers"] + again["metrics"],
        "target_rows_per_s": 20_000,
    }
