"""Sensitivity scans on real Celery workers (embedded broker): two workers share one scan's
layer tasks; a scan survives a killed worker (resume computes only the missing points), and
with no resume at all another worker's sweeper finishes it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import save
from sqlalchemy import select

from server.db.sensitivity_models import SensitivityPoint
from tests.worker.stack import TINY_RECIPE, Stack, make_settings, wait_for
from winoprune.models import build_model
from worker.sensitivity_tasks import scan_dispatcher

pytestmark = pytest.mark.slow


def new_stack(tmp: Path) -> Stack:
    stack = Stack(make_settings(tmp), tmp)
    stack.app.state.enqueue_scan = scan_dispatcher(stack.dispatcher)
    return stack


def submit_scan(stack: Stack, grid: list[float], val_size: int = 300) -> int:
    torch.manual_seed(2)
    weights = save({k: v.contiguous() for k, v in build_model("digits-cnn").state_dict().items()})
    artifact = stack.client.post(
        f"/api/v1/projects/{stack.project_id}/artifacts",
        files={"file": ("w.safetensors", weights)},
        data={"model": "digits-cnn"},
    ).json()["id"]
    reply = stack.client.post("/api/v1/sensitivity", json={
        "project": stack.project_id, "source": "artifact", "artifact_id": artifact,
        "recipe": TINY_RECIPE, "method": "winograd-direct", "grid": grid, "val_size": val_size,
        "chunk_size": 2})  # fmt: skip
    assert reply.status_code == 201, reply.text
    return int(reply.json()["id"])


def scan(stack: Stack, scan_id: int) -> dict[str, Any]:
    return stack.client.get(f"/api/v1/sensitivity/{scan_id}").json()  # type: ignore[no-any-return]


def finished(
    stack: Stack, scan_id: int, states: tuple[str, ...], timeout_s: float
) -> dict[str, Any]:
    try:
        return wait_for(  # type: ignore[no-any-return]
            lambda: (s := scan(stack, scan_id))["status"] in states and s, timeout_s, f"{states}"
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {scan(stack, scan_id)}\n{stack.log_tail()}") from None


def point_ids(stack: Stack, scan_id: int) -> dict[tuple[str, int], int]:
    with stack.session() as session:
        rows = session.scalars(select(SensitivityPoint).where(SensitivityPoint.scan_id == scan_id))
        return {(p.layer, p.grid_index): p.id for p in rows}


def test_two_workers_fan_out_one_scan(tmp_path: Path) -> None:
    stack = new_stack(tmp_path)
    try:
        stack.start_worker()
        stack.start_worker()
        scan_id = submit_scan(stack, [0.0, 0.2, 0.4, 0.6, 0.8, 0.9])
        done = finished(stack, scan_id, ("succeeded", "failed"), 240)
        assert done["status"] == "succeeded", (done, stack.log_tail())
        assert done["points_done"] == done["points_total"] == 6 * len(done["layers"])
        assert len(point_ids(stack, scan_id)) == done["points_total"]
        # both workers computed layer tasks
        pattern = re.compile(rf"scan {scan_id}: features\.conv\d: \d+ point")
        busy = [bool(pattern.search(log.read_text(errors="replace"))) for log in stack.logs]
        assert busy == [True, True], stack.log_tail()
    finally:
        stack.close()


def test_a_scan_resumes_after_its_worker_is_killed_and_cancels(tmp_path: Path) -> None:
    stack = new_stack(tmp_path)
    try:
        stack.start_worker()
        grid = [round(0.1 * i, 2) for i in range(10)]
        scan_id = submit_scan(stack, grid, val_size=600)
        wait_for(lambda: len(point_ids(stack, scan_id)) >= 3, 240, "some points")
        stack.kill_workers()
        before = point_ids(stack, scan_id)
        assert scan(stack, scan_id)["status"] == "running" and before
        stack.start_worker()
        resumed = stack.client.post(f"/api/v1/sensitivity/{scan_id}/resume")
        assert resumed.status_code == 200, resumed.text
        done = finished(stack, scan_id, ("succeeded", "failed"), 300)
        assert done["status"] == "succeeded", (done, stack.log_tail())
        after = point_ids(stack, scan_id)
        assert len(after) == done["points_total"] == 10 * len(done["layers"])
        assert {k: after[k] for k in before} == before  # kept, merged once, not recomputed
        # a second scan is cancelled while it runs: it stops between points
        second = submit_scan(stack, grid, val_size=600)
        wait_for(lambda: len(point_ids(stack, second)) >= 1, 240, "a point of the second scan")
        assert stack.client.post(f"/api/v1/sensitivity/{second}/cancel").status_code == 200
        final = finished(stack, second, ("cancelled",), 120)
        assert final["points_done"] < final["points_total"]
    finally:
        stack.close()


def test_a_killed_workers_scan_is_finished_by_another_workers_sweeper(tmp_path: Path) -> None:
    stack = new_stack(tmp_path)
    try:
        stack.start_worker()
        scan_id = submit_scan(stack, [0.0, 0.2, 0.4, 0.6, 0.8, 0.9], val_size=600)
        wait_for(lambda: len(point_ids(stack, scan_id)) >= 2, 240, "some points")
        # SIGKILL mid-scan: the embedded broker loses the message the worker held; the tasks
        # still waiting are dropped too (a host lost with its broker), so that only a sweeper
        # can finish the scan, whenever the kill lands
        stack.kill_workers()
        with stack.dispatcher.app.connection_for_write() as connection:
            connection.default_channel.queue_purge(stack.settings.worker_queue_cpu)
        before = point_ids(stack, scan_id)
        assert scan(stack, scan_id)["status"] == "running" and before
        stack.start_worker()  # nobody presses Resume: only its sweeper can plan the scan again
        done = finished(stack, scan_id, ("succeeded", "failed"), 300)
        assert done["status"] == "succeeded", (done, stack.log_tail())
        assert done["attempt_count"] >= 2  # the first delivery and the sweeper's
        after = point_ids(stack, scan_id)
        assert len(after) == done["points_total"] == 6 * len(done["layers"])
        assert {k: after[k] for k in before} == before  # kept, merged once, not recomputed
        changes = stack.client.get(f"/api/v1/sensitivity/{scan_id}/changes").json()["events"]
        assert any("planned again" in e["data"].get("message", "") for e in changes), changes
    finally:
        stack.close()
