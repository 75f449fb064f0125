"""The tracking clients against a real served app (uvicorn in a subprocess, SQLite):
`winoprune run --track`, `winoprune push` (resumed after an interruption without duplicate
rows), `winoprune runs` with metric filters and sorts, and the README's own-loop example."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from server.serving import free_port
from tests.core.cli.test_cli_reduction import tiny_recipe
from tests.worker.stack import wait_for
from winoprune.cli import main as cli_main
from winoprune.cli.publish import read_layers, read_records

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery staple"


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("tracking-serve")
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("WINOPRUNE_")},
        "WINOPRUNE_DATA_DIR": str(tmp / "data"),
        "WINOPRUNE_SECRET_KEY": "k" * 48,
        "WINOPRUNE_ADMIN_PASSWORD": PASSWORD,
        "WINOPRUNE_ARGON2_TIME_COST": "1",
        "WINOPRUNE_ARGON2_MEMORY_KIB": "8",
        "WINOPRUNE_ARGON2_PARALLELISM": "1",
    }
    code = f"from server.main import serve; serve('127.0.0.1', {port})"
    log = (tmp / "serve.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-c", code], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_for(lambda: _healthy(url), 180, "the API to answer /healthz", 0.3)
        except AssertionError:
            log.flush()
            raise AssertionError((tmp / "serve.log").read_text()[-3000:]) from None
        login = httpx.post(
            f"{url}/api/v1/auth/login", data={"username": "admin", "password": PASSWORD}
        )
        jwt = login.json()["access_token"]
        created = httpx.post(
            f"{url}/api/v1/auth/tokens",
            json={"name": "cli"},
            headers={"Authorization": f"Bearer {jwt}"},
        )
        assert created.status_code == 201, created.text
        token = created.json()["token"]
        yield {
            "url": url,
            "env": {
                "WINOPRUNE_SERVER": url,
                "WINOPRUNE_TOKEN": token,
                "WINOPRUNE_PROJECT": "default",
                "WINOPRUNE_CONFIG": str(tmp / "no-config.toml"),
            },
            "http": httpx.Client(
                base_url=f"{url}/api/v1", headers={"Authorization": f"Bearer {token}"}
            ),
        }
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def cli(service: dict[str, Any], *args: str) -> Any:
    return CliRunner().invoke(cli_main.app, list(args), env=service["env"])


def stored(service: dict[str, Any], run_id: int) -> tuple[int, int]:
    """(metric points, layer rows) the service holds for a run."""
    http = service["http"]
    layers = http.get(f"/runs/{run_id}/layers").json()
    metrics = http.get(f"/runs/{run_id}/metrics").json()
    return len(metrics["stage"]), len(layers["layer"])


@pytest.fixture(scope="module")
def local_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished local run of the tiny digits recipe (untracked)."""
    tmp = tmp_path_factory.mktemp("local")
    out = tmp / "out"
    done = CliRunner().invoke(cli_main.app, ["run", str(tiny_recipe(tmp)), "--out", str(out)])
    assert done.exit_code == 0, done.output
    return out


def test_run_track_publishes_the_run_live(service: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "tracked"
    done = cli(service, "run", str(tiny_recipe(tmp_path)), "--out", str(out), "--track")
    assert done.exit_code == 0, done.output
    run_id = json.loads((out / "track.json").read_text())["run_id"]
    run = service["http"].get(f"/runs/{run_id}").json()
    assert run["external"] is True and run["status"] == "succeeded"
    assert [s["status"] for s in run["stages"]] == ["succeeded"] * 3
    records, layers = read_records(out), read_layers(out)
    assert stored(service, run_id) == (len(records), len(layers))
    assert run["final"]["top1"] == pytest.approx(records[-1]["top1"])
    assert run["final"]["winograd_sparsity"] == pytest.approx(records[-1]["winograd_sparsity"])
    checkpoints = service["http"].get(f"/runs/{run_id}/artifacts").json()
    assert len(checkpoints) == 3  # one final checkpoint per stage
    again = cli(service, "push", str(out))  # nothing new: the same run, no row twice
    assert again.exit_code == 0, again.output
    assert f"run {run_id}: 0 metric and 0 layer rows new" in again.output


def test_push_resumes_after_an_interruption(
    service: dict[str, Any], local_run: Path, tmp_path: Path
) -> None:
    partial = tmp_path / "partial"
    shutil.copytree(local_run, partial)
    (partial / "report.html").unlink()  # not finished yet
    lines = (partial / "metrics.jsonl").read_text().splitlines(keepends=True)
    (partial / "metrics.jsonl").write_text("".join(lines[:2]) + lines[2][:10])  # cut mid-line
    rows = (partial / "layers.csv").read_text().splitlines(keepends=True)
    (partial / "layers.csv").write_text("".join(rows[: len(rows) // 2]))
    first = cli(service, "push", str(partial))
    assert first.exit_code == 0, first.output
    run_id = json.loads((partial / "track.json").read_text())["run_id"]
    assert service["http"].get(f"/runs/{run_id}").json()["status"] == "running"
    half = stored(service, run_id)
    assert half == (2, len(rows) // 2 - 1)
    for name in ("metrics.jsonl", "layers.csv", "report.html"):  # the run went on and ended
        shutil.copy(local_run / name, partial / name)
    second = cli(service, "push", str(partial))
    assert second.exit_code == 0, second.output
    run = service["http"].get(f"/runs/{run_id}").json()
    assert run["status"] == "succeeded"
    assert stored(service, run_id) == (len(read_records(local_run)), len(read_layers(local_run)))


def test_runs_lists_with_metric_filters(service: dict[str, Any], local_run: Path) -> None:
    assert cli(service, "push", str(local_run)).exit_code == 0
    top1 = read_records(local_run)[-1]["top1"]
    listed = cli(service, "runs", "--filter", f"top1>={top1 - 1e-9}", "--sort", "top1", "--json")
    assert listed.exit_code == 0, listed.output
    items = json.loads(listed.output)["items"]
    assert items and all(i["final"]["top1"] >= top1 - 1e-9 and i["external"] for i in items)
    table = cli(service, "runs", "--external", "--sort", "winograd_sparsity")
    assert table.exit_code == 0 and "external" in table.output and "worker" not in table.output
    bad = cli(service, "runs", "--filter", "top2>1")
    assert bad.exit_code == 2 and "filter" in bad.output and "top2" in bad.output


def test_the_readme_example_tracks_an_own_loop(service: dict[str, Any]) -> None:
    example = REPO / "docs" / "examples" / "track_own_loop.py"
    env = {**os.environ, **service["env"]}
    done = subprocess.run(
        [sys.executable, str(example)], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    run_id = int(done.stdout.split("tracked as run ")[1].split()[0])
    run = service["http"].get(f"/runs/{run_id}").json()
    assert run["external"] and run["status"] == "succeeded" and run["name"] == "own-loop"
    points, layers = stored(service, run_id)
    assert points == 2 and layers == 2 * 4  # 4 Winograd-domain convs per epoch
    assert run["final"]["winograd_sparsity"] == 0.0 and run["final"]["top1"] > 0.1
