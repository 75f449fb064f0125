"""The CLI's lines about a service run: no "None" for unknown places, queue and ETA, queue
time kept apart from training time, final metrics."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from winoprune.cli import run_summary as summary


def run(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": 7, "name": "demo", "status": "failed", "attempt_count": 1, "device": None,
        "progress": {"stage": None, "epoch": None}, "cancel_requested": False,
        "created_at": "2026-12-02T10:00:00Z", "started_at": None, "finished_at": None,
        "stages": [], "final": {}, "mult_reduction": None,
    }  # fmt: skip
    return base | changes


def test_a_run_that_failed_before_training_prints_no_none() -> None:
    line = summary.status_line(run(error="data.root: missing"))
    assert line == "run 7 demo: failed (before its first epoch, attempt 1, device -)"
    assert "None" not in line
    running = run(status="running", progress={"stage": -1, "epoch": 3}, device="cpu")
    assert (
        summary.status_line(running)
        == "run 7 demo: running (pretrain, epoch 3, attempt 1, device cpu)"
    )
    cancelling = running | {"cancel_requested": True, "progress": {"stage": 2, "epoch": None}}
    assert summary.status_line(cancelling).startswith("run 7 demo: cancelling (stage 2, attempt")


def test_queue_and_eta_lines() -> None:
    queued = run(status="queued", queue_position=3, eta_s=None, epoch_s=None)
    assert (
        summary.queue_line(queued)
        == "position 3 in the queue; ETA unknown until an epoch is measured"
    )
    running = run(status="running", queue_position=None, eta_s=125.0, epoch_s=2.5)
    assert summary.queue_line(running) == "ETA 0:02:05 of training (2.50 s per epoch)"
    assert summary.queue_line(run(status="succeeded")) is None


def test_queue_time_is_not_training_time_and_metrics_are_final() -> None:
    done = run(
        status="succeeded",
        created_at="2026-12-02T10:00:00Z",
        started_at="2026-12-02T10:01:30Z",
        finished_at="2026-12-02T10:05:00.400Z",
        final={"top1": 0.9583, "winograd_sparsity": 0.4973, "mult_reduction": 7.8858},
    )
    assert summary.timing_line(done) == "training 0:03:30, queued 0:01:30 before it"
    assert summary.metrics_line(done) == (
        "top-1 95.83 %, Winograd sparsity 49.7 %, 7.89x fewer multiplications"
    )
    never = run(status="cancelled", finished_at="2026-12-02T10:00:42Z")
    assert summary.timing_line(never) == "never started (queued 0:00:42)"
    waiting = run(status="queued")
    now = datetime(2026, 12, 2, 10, 0, 5, tzinfo=UTC)
    assert summary.timing_line(waiting, now) == "never started (queued 0:00:05)"
    # no final block (older service): the last finished stage's figures
    stages = [{"accuracy": 0.9, "sparsity": 0.3}, {"accuracy": None, "sparsity": None}]
    assert summary.metrics_line(run(final=None, stages=stages)) == (
        "top-1 90.00 %, Winograd sparsity 30.0 %"
    )
    assert summary.metrics_line(run()) is None
