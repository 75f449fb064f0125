"""Publishing an export's measured speed against a real served app (uvicorn in a subprocess,
SQLite): `winoprune export --benchmark --publish RUN`, `winoprune push-speed` again without a
second row, `winoprune status` showing the figure, and the errors that stop a publish."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from tests.core.cli.test_cli_export import _checkpoint
from tests.worker.test_tracking_cli import cli, service  # noqa: F401  (the served app)
from winoprune.cli.run_summary import speed_line

pytestmark = pytest.mark.slow


def external_run(service: dict[str, Any]) -> int:  # noqa: F811
    http = service["http"]
    project = next(p for p in http.get("/projects").json() if p["name"] == "default")
    body = {"project": project["id"], "name": "exported", "description": "an exported model"}
    created = http.post("/tracking/runs", json=body)
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def test_export_publishes_and_a_retry_adds_nothing(
    service: dict[str, Any],  # noqa: F811
    tmp_path: Path,
) -> None:
    run_id = external_run(service)
    checkpoint = _checkpoint(tmp_path / "ck", 0.7)
    out = tmp_path / "export"
    args = ["--batch", "2", "--threads", "1", "--repeats", "1", "--publish", str(run_id)]
    done = cli(service, "export", str(checkpoint), "--out", str(out), "--benchmark", *args)
    assert done.exit_code == 0, done.output
    speed = json.loads((out / "speed.json").read_text())
    manifest = json.loads((out / "manifest.json").read_text())
    stored = service["http"].get(f"/runs/{run_id}/speed").json()
    assert len(stored) == 1
    row = stored[0]
    assert row["weights_sha256"] == manifest["weights_sha256"] == speed["weights_sha256"]
    assert (row["batch"], row["threads"], row["stage"]) == (2, 1, 1)
    assert row["checkpoint"] == checkpoint.name
    assert row["machine"] == socket.gethostname() == speed["machine"]["name"]
    assert row["speedup"] == pytest.approx(speed["speedup"])
    assert row["export_ms"] == pytest.approx(2e3 / speed["images_per_s"]["sparse_winograd"])
    assert set(row["layers"]) == set(speed["layers"]) == {f"features.conv{i}" for i in range(4)}
    assert f"run {run_id}: {speed_line(row)}" in done.output

    again = cli(service, "push-speed", str(out), "--run", str(run_id))
    assert again.exit_code == 0, again.output
    assert [r["id"] for r in service["http"].get(f"/runs/{run_id}/speed").json()] == [row["id"]]
    status = cli(service, "status", str(run_id))
    assert status.exit_code == 0, status.output
    line = f"measured: {row['speedup']:.2f}x conv2d at batch 2, 1 thread ({row['machine']}, "
    assert line + f"{row['measured_at'][:10]})" in status.output


def test_what_cannot_be_published_is_refused(
    service: dict[str, Any],  # noqa: F811
    tmp_path: Path,
) -> None:
    run_id = external_run(service)
    checkpoint = _checkpoint(tmp_path / "ck", 0.7)
    out = tmp_path / "export"
    unmeasured = cli(service, "export", str(checkpoint), "--out", str(out), "--publish", "1")
    assert unmeasured.exit_code == 2 and "--publish needs --benchmark" in unmeasured.output
    assert not out.exists()
    assert cli(service, "export", str(checkpoint), "--out", str(out)).exit_code == 0
    missing = cli(service, "push-speed", str(out), "--run", str(run_id))
    assert missing.exit_code == 2 and "no speed.json" in missing.output
    speed = {"weights_sha256": "0" * 64, "batch": 1, "threads": 1, "images_per_s": {}}
    (out / "speed.json").write_text(json.dumps(speed))
    other = cli(service, "push-speed", str(out), "--run", str(run_id))
    assert other.exit_code == 2 and "measured on other weights" in other.output
    assert service["http"].get(f"/runs/{run_id}/speed").json() == []
    args = ["--batch", "1", "--threads", "1", "--repeats", "1", "--publish", "987654"]
    nowhere = cli(service, "export", str(checkpoint), "--out", str(out), "--benchmark", *args)
    assert nowhere.exit_code == 1 and "run not found" in nowhere.output
    assert "winoprune push-speed" in nowhere.output  # the export is kept: publish it later
