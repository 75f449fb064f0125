"""API load benchmark: run lists and layer statistics over loopback against PostgreSQL.

Creates a dedicated database (dropped afterwards), bulk-loads runs and layer-statistic rows with
COPY, starts uvicorn in a subprocess on a free port (once per --workers setting), and measures
p50/p95 latency with 1 and 16 concurrent keep-alive clients (a bounded number of requests each).
Writes benchmarks/results/api_load.json and prints a Markdown table.

    python benchmarks/api_load.py            # 10,000 runs, 1,000,000 layer rows
    python benchmarks/api_load.py --quick    # 1,000 runs, 50,000 layer rows (smoke run)
    python benchmarks/api_load.py --runs 10000,100000 --workers 1,2 --only list,same \
        --layer-rows 100000                  # the run-list targets at 10k and 100k runs
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from provenance import commit, dirty  # noqa: E402
from tracking_load import (  # noqa: E402
    METRIC_COLUMNS,
    list_scenarios,
    measure_ingestion,
    metric_values,
)

from server.auth.service import hash_token  # noqa: E402
from server.db.migrate import upgrade_to_head  # noqa: E402
from server.runs.listing import encode_cursor  # noqa: E402
from server.serving import free_port, listening_sockets  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "api_load.json"
STATUSES = ("succeeded", "failed", "cancelled", "queued", "running")
METHODS = ("spatial-winograd", "native-winograd", "spatial-structured", "spatial-unstructured")
MODELS = ("vgg-nagadomi", "convpool-cnn-c", "resnet18", "digits-cnn")
# One run's statistics: 5 stages x 10 epochs x 10 layers x 2 domains = 1,000 rows.
STAGES, EPOCHS, LAYERS = 5, 10, 10
ROWS_PER_RUN = STAGES * EPOCHS * LAYERS * 2
# Every run that has reported also has epoch metric rows (2 epochs per stage, like the final
# metrics: a list reads only their latest values, kept on the runs row).
METRIC_EPOCHS, DIRECT_MULTIPLICATIONS = 2, 1.0e9
TOKEN = "wp_benchmark-token-" + uuid.uuid4().hex
TARGETS_MS = {
    "list first page": 50.0,
    "list deep page": 50.0,
    "layer stats of one run": 100.0,
    "list filtered top1>=0.7, sorted by sparsity": 50.0,
    "same, one project": 50.0,
}


def create_database(admin_url: str) -> str:
    """CREATE a uniquely named database; returns its SQLAlchemy URL."""
    name = f"wp_bench_{uuid.uuid4().hex[:10]}"
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, url: str) -> None:
    """DROP the benchmark database."""
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    engine.dispose()


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def seed(url: str, runs: int, layer_rows: int) -> dict[str, Any]:
    """Bulk-load one user, 4 projects, `runs` runs (with their epoch metrics) and `layer_rows`
    layer rows with COPY."""
    started = time.perf_counter()
    now = datetime.now(UTC)
    recipe = json.dumps({"name": "bench", "model": {"name": "vgg-nagadomi"}, "stages": []})
    with psycopg.connect(_libpq(url)) as conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO users (username, password_hash, is_admin, is_active, session_generation,"
            " created_at) VALUES ('bench', 'x', false, true, 0, %s) RETURNING id",
            (now,),
        )
        user_id = cur.fetchone()[0]  # type: ignore[index]
        cur.execute(
            "INSERT INTO api_tokens (user_id, name, token_hash, prefix, scopes, created_at)"
            " VALUES (%s, 'bench', %s, 'wp_bench', 'read write', %s)",
            (user_id, hash_token(TOKEN), now),
        )
        project_ids = []
        for i in range(4):
            cur.execute(
                "INSERT INTO projects (name, description, created_at) VALUES (%s, '', %s)"
                " RETURNING id",
                (f"bench-{i}", now),
            )
            project_ids.append(cur.fetchone()[0])  # type: ignore[index]
            cur.execute(
                "INSERT INTO memberships (project_id, user_id, role, created_at)"
                " VALUES (%s, %s, 'editor', %s)",
                (project_ids[-1], user_id, now),
            )
        columns = (
            "project_id, created_by_id, name, recipe, recipe_sha256, method, model_name,"
            " dataset_name, status, attempt_count, cancel_requested, notes, created_at,"
            f" updated_at, {METRIC_COLUMNS}"
        )
        with cur.copy(f"COPY runs ({columns}) FROM STDIN") as copy:
            for i in range(runs):
                created = now - timedelta(seconds=runs - i)
                copy.write_row(
                    (
                        project_ids[i % 4],
                        user_id,
                        f"run-{i}",
                        recipe,
                        "0" * 64,
                        METHODS[i % 4],
                        MODELS[(i // 4) % 4],
                        "cifar10",
                        STATUSES[i % 5],
                        1,
                        False,
                        "",
                        created,
                        created,
                        *metric_values(i, STATUSES[i % 5]),
                    )
                )
        cur.execute("SELECT id FROM runs ORDER BY id")
        run_ids = [row[0] for row in cur.fetchall()]
        _seed_metrics(cur, run_ids)
        with_stats = run_ids[: max(1, layer_rows // ROWS_PER_RUN)]
        with cur.copy(
            "COPY layer_stats (run_id, stage, epoch, layer, domain, numel, nnz,"
            " sparsity, multiplications) FROM STDIN"
        ) as copy:
            for run_id in with_stats:
                for stage in range(STAGES):
                    for epoch in range(EPOCHS):
                        for layer in range(LAYERS):
                            for domain in ("spatial", "winograd"):
                                copy.write_row(
                                    (
                                        run_id,
                                        stage,
                                        epoch,
                                        f"features.conv{layer}",
                                        domain,
                                        36864,
                                        20000,
                                        0.46,
                                        1_000_000,
                                    )
                                )
        conn.commit()
        cur.execute("ANALYZE")
    return {
        "seconds": round(time.perf_counter() - started, 1),
        "stats_runs": with_stats,
        "projects": project_ids,
    }


def _seed_metrics(cur: psycopg.Cursor[Any], run_ids: list[int]) -> None:
    """Epoch metric rows of every run that has final metrics (not the queued ones), and the
    run's latest multiplication totals that the worker keeps beside them."""
    with cur.copy("COPY metrics (run_id, stage, epoch, key, value) FROM STDIN") as copy:
        for i, run_id in enumerate(run_ids):
            _external, top1, _sparsity, reduction, loss = metric_values(i, STATUSES[i % 5])
            if top1 is None:
                continue
            values = {
                "top1": top1,
                "loss": loss,
                "mult_direct": DIRECT_MULTIPLICATIONS,
                "mult_winograd_sparse": DIRECT_MULTIPLICATIONS / reduction,
            }
            for stage in range(STAGES):
                for epoch in range(METRIC_EPOCHS):
                    for key, value in values.items():
                        copy.write_row((run_id, stage, epoch, key, value))
    cur.execute(
        "UPDATE runs SET latest_mult_direct = %s, latest_mult_sparse = %s / final_mult_reduction"
        " WHERE final_mult_reduction IS NOT NULL",
        (DIRECT_MULTIPLICATIONS, DIRECT_MULTIPLICATIONS),
    )


def deep_cursor(url: str, depth: int) -> str:
    """The cursor after `depth` rows of the filtered list (status=succeeded, newest first)."""
    with psycopg.connect(_libpq(url)) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT created_at, id FROM runs WHERE status = 'succeeded'"
            " ORDER BY created_at DESC, id DESC OFFSET %s LIMIT 1",
            (depth - 1,),
        )
        created, run_id = cur.fetchone()  # type: ignore[misc]
    return encode_cursor("created", "desc", created.astimezone(UTC), run_id)


def start_server(url: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    """`winoprune serve` in a subprocess; returns once /healthz answers."""
    env = {
        **os.environ,
        "WINOPRUNE_DATABASE_URL": url,
        "WINOPRUNE_SECRET_KEY": "b" * 48,
        "WINOPRUNE_DATA_DIR": tempfile.mkdtemp(prefix="wp-bench-"),
    }
    # the service's own serve(): one process, or N each on its own SO_REUSEPORT socket
    command = f"from server.main import serve; serve('127.0.0.1', {port}, {workers})"
    process = subprocess.Popen(
        [sys.executable, "-c", command], cwd=ROOT, env=env, stdout=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 180  # a loaded machine imports torch slowly
    while time.monotonic() < deadline:
        try:
            healthy = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
            if healthy and listening_sockets(port) >= workers:
                return process
            time.sleep(0.2)
        except httpx.HTTPError:
            time.sleep(0.2)
    process.terminate()
    raise RuntimeError("uvicorn did not start")


async def _get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> None:
    """One keep-alive HTTP/1.1 GET; raises unless the answer is 200 with a Content-Length body."""
    writer.write(request)
    status = await reader.readline()
    if not status.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"unexpected answer: {status!r}")
    length = None
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length is None:
        raise RuntimeError("answer without Content-Length")
    await reader.readexactly(length)


async def _client(port: int, requests: list[bytes]) -> list[float]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        await _get(reader, writer, requests[0])  # warm the connection
        times = []
        for request in requests:
            start = time.perf_counter()
            await _get(reader, writer, request)
            times.append((time.perf_counter() - start) * 1000)
        return times
    finally:
        writer.close()


def measure(port: int, paths: list[str], clients: int, requests: int) -> dict[str, float]:
    """p50/p95/mean latency (ms) and throughput of `requests` GETs spread over `clients`.

    The load comes from one asyncio loop speaking raw keep-alive HTTP/1.1 (a few tens of
    microseconds of CPU per request), so that on a small machine the client does not take the
    cores the server is being measured on.
    """
    per_client = max(1, requests // clients)
    head = f"Host: 127.0.0.1:{port}\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"

    def request(i: int) -> bytes:
        return f"GET {paths[i % len(paths)]} HTTP/1.1\r\n{head}".encode()

    async def run() -> list[list[float]]:
        batches = [
            [request(index * per_client + i) for i in range(per_client)] for index in range(clients)
        ]
        return await asyncio.gather(*(_client(port, batch) for batch in batches))

    started = time.perf_counter()
    latencies = [t for batch in asyncio.run(run()) for t in batch]
    elapsed = time.perf_counter() - started
    quantiles = statistics.quantiles(latencies, n=100)
    return {
        "requests": len(latencies),
        "p50_ms": round(quantiles[49], 2),
        "p95_ms": round(quantiles[94], 2),
        "mean_ms": round(statistics.fmean(latencies), 2),
        "throughput_rps": round(len(latencies) / elapsed, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small data, fewer requests")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get(
            "WINOPRUNE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument(
        "--workers",
        default="1,2,4",
        help="comma-separated uvicorn worker-process counts to measure, one server each",
    )
    parser.add_argument(
        "--requests", type=int, default=None, help="per measurement (default 3000; quick 160)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--runs", default=None, help="comma-separated run counts, one database each (10000)"
    )
    parser.add_argument(
        "--only", default="", help="comma-separated scenario name prefixes to measure (all)"
    )
    parser.add_argument(
        "--layer-rows",
        type=int,
        default=None,
        help="layer-statistic rows per database (1,000,000; quick 50,000): fewer seed faster",
    )
    parser.add_argument(
        "--ingest-requests", type=int, default=None, help="batches per ingestion run (20)"
    )
    args = parser.parse_args()
    runs, layer_rows, requests = (1_000, 50_000, 160) if args.quick else (10_000, 1_000_000, 3000)
    requests = args.requests or requests
    layer_rows = layer_rows if args.layer_rows is None else args.layer_rows
    if layer_rows < ROWS_PER_RUN:
        parser.error(f"--layer-rows: at least {ROWS_PER_RUN} (one run's statistics)")
    sizes = [int(n) for n in args.runs.split(",")] if args.runs else [runs]
    ingest_requests = args.ingest_requests or (5 if args.quick else 20)
    wanted = [w for w in args.only.split(",") if w]
    if requests < 20:
        parser.error("--requests: at least 20 (p95 needs a tail)")
    try:
        worker_counts = [int(w) for w in args.workers.split(",")]
    except ValueError:
        parser.error(f"--workers: expected comma-separated integers, got {args.workers!r}")
    if any(w < 1 for w in worker_counts):
        parser.error("--workers: each count must be at least 1")

    results: list[dict[str, Any]] = []
    ingestion: list[dict[str, Any]] = []
    for runs in sizes:
        seeded, depth = _measure_size(args.pg_url, runs, layer_rows, requests, worker_counts,
                                      wanted, results, ingestion, ingest_requests)  # fmt: skip
    report = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "processor": platform.processor(),
        },
        "commit": commit() + ("+dirty" if dirty() else ""),
        "config": {
            "quick": args.quick,
            "runs": sizes,
            "layer_rows": layer_rows,
            "rows_per_run": ROWS_PER_RUN,
            "deep_page_offset": depth,
            "requests_per_measurement": requests,
            "uvicorn_workers": worker_counts,
            "load_generator": "asyncio raw HTTP/1.1 keep-alive, one process",
            "seed_seconds": seeded["seconds"],
        },
        "results": results,
        "ingestion": ingestion,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(
        "\n| scenario | runs | workers | clients | requests | p50 ms | p95 ms | mean ms | req/s |"
        " target p95 |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        target = f"< {r['target_p95_ms']:g} ms" if r["target_p95_ms"] else ""
        print(
            f"| {r['scenario']} | {r['runs']} | {r['workers']} | {r['clients']} | "
            f"{r['requests']} | {r['p50_ms']} | {r['p95_ms']} | {r['mean_ms']} | "
            f"{r['throughput_rps']} | {target} |"
        )
    for r in ingestion:
        print(
            f"ingest: {r['rows_per_s']} layer rows/s ({r['rows_per_request']} per request, "
            f"{r['workers']} worker(s), {r['runs']} runs; retry added {r['retry_added_rows']} rows)"
        )
    print(f"\nwritten to {args.out}")


def _measure_size(
    pg_url: str,
    runs: int,
    layer_rows: int,
    requests: int,
    worker_counts: list[int],
    wanted: list[str],
    results: list[dict[str, Any]],
    ingestion: list[dict[str, Any]],
    ingest_requests: int,
) -> tuple[dict[str, Any], int]:
    """Seed a database of ``runs`` runs and measure every scenario there (appends rows)."""
    url = create_database(pg_url)
    process = None
    try:
        upgrade_to_head(url)
        seeded = seed(url, runs, layer_rows)
        print(f"seeded {runs} runs and {layer_rows} layer rows in {seeded['seconds']} s")
        depth = min(5_000, runs // 5 - 50)
        scenarios = {
            "list first page": ["/api/v1/runs?status=succeeded&limit=50"],
            "list deep page": [
                f"/api/v1/runs?status=succeeded&limit=50&cursor={deep_cursor(url, depth)}"
            ],
            "layer stats of one run": [
                f"/api/v1/runs/{run_id}/layers" for run_id in seeded["stats_runs"][:200]
            ],
            **list_scenarios(seeded["projects"][0]),
        }
        chosen = tuple(wanted)
        scenarios = {k: v for k, v in scenarios.items() if not chosen or k.startswith(chosen)}
        for workers in worker_counts:
            port = free_port()
            process = start_server(url, port, workers)
            for name, paths in scenarios.items():
                # warm every process's connections, caches and prepared statements first
                measure(port, paths, 16, min(requests, 400))
                for clients in (1, 16):
                    row = {
                        "scenario": name,
                        "runs": runs,
                        "workers": workers,
                        "clients": clients,
                        **measure(port, paths, clients, requests),
                    }
                    row["target_p95_ms"] = TARGETS_MS[name] if clients == 16 else None
                    results.append(row)
                    print(row, flush=True)
            if ingest_requests > 0 and (not wanted or "ingest".startswith(tuple(wanted))):
                for per_request in (1_000, 5_000):
                    row = measure_ingestion(
                        f"http://127.0.0.1:{port}", TOKEN, seeded["projects"][1], per_request,
                        ingest_requests,
                    )  # fmt: skip
                    ingestion.append({"runs": runs, "workers": workers, **row})
                    print(ingestion[-1], flush=True)
            process.terminate()
            process.wait(timeout=30)
            process = None
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=30)
        drop_database(pg_url, url)
    return seeded, depth


if __name__ == "__main__":
    main()
