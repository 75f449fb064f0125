"""Embedded mode end to end: `serve_with_worker` (API + worker + SQLite broker) in a
subprocess, driven by the CLI's REST commands: submit, watch (SSE), status, download."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from typer.testing import CliRunner

from server.serving import free_port
from tests.worker.stack import wait_for
from winoprune.cli.remote import register_remote_commands

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery staple"
HANG_GUARD_S = 600  # a bound for a hung run, not a performance claim


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("serve")
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("WINOPRUNE_")},
        "WINOPRUNE_DATA_DIR": str(tmp / "data"),
        "WINOPRUNE_SECRET_KEY": "k" * 48,
        "WINOPRUNE_ADMIN_PASSWORD": PASSWORD,
        "WINOPRUNE_ARGON2_TIME_COST": "1",
        "WINOPRUNE_ARGON2_MEMORY_KIB": "8",
        "WINOPRUNE_ARGON2_PARALLELISM": "1",
        "WINOPRUNE_EVENTS_POLL_S": "0.2",
    }
    code = f"from worker.launcher import serve_with_worker; serve_with_worker('127.0.0.1', {port})"
    log = (tmp / "serve.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=tmp,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _healthy(url), 60, "the API to answer /healthz", 0.3)
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
        yield {"url": url, "token": created.json()["token"], "tmp": tmp}
    finally:
        process.terminate()  # serve_with_worker stops its worker on the way out
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait(timeout=10)
        log.close()
        started = re.search(r"worker started \(pid (\d+)", (tmp / "serve.log").read_text())
        assert started, "serve_with_worker did not start a worker"
        assert not _alive(int(started.group(1))), "the embedded worker outlived `serve`"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    os.killpg(pid, 9)  # clean up before failing
    return True


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def cli(service: dict[str, Any], *args: str) -> Any:
    app = typer.Typer()
    register_remote_commands(app)
    env = {
        "WINOPRUNE_SERVER": service["url"],
        "WINOPRUNE_TOKEN": service["token"],
        "WINOPRUNE_CONFIG": str(service["tmp"] / "no-config.toml"),
    }
    return CliRunner().invoke(app, list(args), env=env)


def test_demo_recipe_runs_to_completion_via_the_cli(
    service: dict[str, Any], tmp_path: Path
) -> None:
    """Its wall time is measured by benchmarks/latency.py, not asserted here."""
    submitted = cli(
        service, "submit", str(REPO / "recipes" / "digits-demo.yaml"), "--project", "default"
    )
    assert submitted.exit_code == 0, submitted.output
    run_id = submitted.output.split()[1]

    watched = cli(service, "watch", run_id, "--timeout", str(HANG_GUARD_S))

    assert watched.exit_code == 0, watched.output
    assert f"run {run_id}: succeeded" in watched.output
    status = cli(service, "status", run_id, "--json")
    run = json.loads(status.output)
    assert run["status"] == "succeeded" and run["device"] == "cpu"
    assert [s["status"] for s in run["stages"]] == ["succeeded"] * 5

    out = tmp_path / "download"
    fetched = cli(service, "download", run_id, "--out", str(out))
    assert fetched.exit_code == 0, fetched.output
    weights = sorted(out.glob("*.safetensors"))
    assert len(weights) == 1 and weights[0].with_suffix(".json").is_file()
    assert weights[0].name.startswith(f"run-{run_id}-")  # files of many runs stay apart
    # a finished run: watch and status give real times and the final metrics, no "None"
    again = cli(service, "watch", run_id)
    assert again.exit_code == 0 and "top-1" in again.output, again.output
    assert re.search(r"training \d+:\d\d:\d\d, queued \d+:\d\d:\d\d before it", again.output)
    shown = cli(service, "status", run_id).output
    assert "None" not in shown and "stage 3, epoch" in shown and "top-1" in shown, shown
    assert json.loads(weights[0].with_suffix(".json").read_text())["stage"] == 3
    report = (out / f"run-{run_id}-report.html").read_text()
    assert "<title>winoprune run #" in report and 'id="final-epoch"' in report
    for name in ("metrics.csv", "metrics.json", "layers.csv", "layers.json", "run.json"):
        assert (out / name).stat().st_size > 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert {(m["stage"], m["epoch"]) for m in metrics} >= {(-1, 4), (3, 2)}


def test_cli_errors_name_the_problem(service: dict[str, Any], tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nmodel: {name: digits-cnn}\nstages: [{type: nope}]\n")
    assert "stages.0" in cli(service, "submit", str(bad), "--project", "default").output
    missing = cli(
        service, "submit", str(REPO / "recipes" / "digits-demo.yaml"), "--project", "nope"
    )
    assert missing.exit_code == 1 and "no project 'nope'" in missing.output
    assert cli(service, "status", "999999").exit_code == 1
