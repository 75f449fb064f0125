"""The runner in-process (no broker): slices, resume from a stage, error handling."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from server.db.models import Artifact, Metric, Run
from server.runs import lifecycle
from tests.worker.stack import TINY_RECIPE, expected_points
from winoprune.training.pipeline import Pipeline
from worker import runner
from worker.context import WorkerContext
from worker.heartbeat import SLICE_END, StopControl


class Queue:
    """Collects enqueue(...) calls and runs them, like a broker with one worker."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def __call__(
        self, run_id: int, token: str | None = None, countdown: float | None = None
    ) -> None:
        self.sent.append({"run_id": run_id, "token": token, "countdown": countdown})

    def drain(self, ctx: WorkerContext, limit: int = 50) -> list[str]:
        outcomes = []
        while self.sent and len(outcomes) < limit:
            message = self.sent.pop(0)
            outcomes.append(runner.run_slice(ctx, message["run_id"], message["token"], self))
        return outcomes


def metrics(ctx: WorkerContext, run_id: int) -> dict[tuple[int, int, str], tuple[int, float]]:
    with ctx.session() as session:
        rows = session.execute(
            select(Metric.stage, Metric.epoch, Metric.key, Metric.id, Metric.value).where(
                Metric.run_id == run_id
            )
        ).all()
    return {(s, e, k): (i, v) for s, e, k, i, v in rows}


def load(ctx: WorkerContext, run_id: int) -> Run:
    with ctx.session() as session:
        run = session.get(Run, run_id)
        assert run is not None
        _ = run.stages
        return run


def values(
    rows: dict[tuple[int, int, str], tuple[int, float]],
) -> dict[tuple[int, int, str], float]:
    return {key: value for key, (_, value) in rows.items()}


class StepSlices(StopControl):
    """Ends every slice after SLICE_STEPS stop checks (one per training step), whatever the
    clock says, so the test slices the same way on fast and slow machines."""

    def should_stop(self) -> bool:
        self.checks = getattr(self, "checks", 0) + 1
        if self.reason is None and self.checks > SLICE_STEPS:
            self.reason = SLICE_END
        return self.reason is not None


SLICE_STEPS = 30


def test_a_sliced_run_equals_an_uninterrupted_one(
    ctx: WorkerContext, new_run: Callable[..., int], monkeypatch: pytest.MonkeyPatch
) -> None:
    whole, sliced = new_run(), new_run()
    queue = Queue()
    queue(whole)
    assert queue.drain(ctx) == ["succeeded"]
    monkeypatch.setattr(runner, "StopControl", StepSlices)
    queue(sliced)
    outcomes = queue.drain(ctx)

    assert outcomes[-1] == "succeeded" and outcomes.count("slice done") >= 2, outcomes
    run = load(ctx, sliced)
    assert run.status == "succeeded" and run.attempt_count == 1 and run.lease_owner is None
    assert {(s, e) for s, e, _ in metrics(ctx, sliced)} == expected_points(TINY_RECIPE)
    assert values(metrics(ctx, sliced)) == values(metrics(ctx, whole))  # exact resume on CPU


def test_resume_from_a_stage_reruns_it_from_the_previous_final_checkpoint(
    ctx: WorkerContext, new_run: Callable[..., int]
) -> None:
    run_id = new_run()
    queue = Queue()
    queue(run_id)
    queue.drain(ctx)
    first = metrics(ctx, run_id)
    with ctx.session() as session:
        run = session.get(Run, run_id)
        assert run is not None
        lifecycle.resume_run(session, run, 1)
    queue(run_id)

    assert queue.drain(ctx) == ["succeeded"]
    again = metrics(ctx, run_id)
    assert values(again) == values(first)  # stage 1 retrained from stage 0's final checkpoint
    kept = {k: v[0] for k, v in again.items() if k[0] < 1}
    assert kept == {k: v[0] for k, v in first.items() if k[0] < 1}  # earlier rows untouched
    run = load(ctx, run_id)
    assert [s.status for s in run.stages] == ["succeeded"] * 3
    with ctx.session() as session:
        stored = session.scalars(select(Artifact.path).where(Artifact.run_id == run_id)).all()
    assert all((ctx.settings.artifacts_dir / key).is_file() for key in stored)
    assert len(stored) == 3  # one final checkpoint per stage


def test_infrastructure_errors_are_retried_then_fail_the_run(
    ctx: WorkerContext, new_run: Callable[..., int], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(_self: Pipeline) -> None:
        raise ConnectionError("shared storage went away")

    monkeypatch.setattr(Pipeline, "run", broken)
    run_id = new_run()
    queue = Queue()
    queue(run_id)

    outcomes = queue.drain(ctx)

    assert outcomes == ["retrying", "retrying", "failed"]
    run = load(ctx, run_id)
    assert run.status == "failed" and run.attempt_count == 3
    assert run.error is not None and "gave up after 3 attempts" in run.error
    assert "shared storage went away" in run.error


def test_a_diverging_run_fails_at_once(
    ctx: WorkerContext, new_run: Callable[..., int], monkeypatch: pytest.MonkeyPatch
) -> None:
    def diverge(_self: Pipeline) -> None:
        raise FloatingPointError("loss is nan at stage 0 epoch 1")

    monkeypatch.setattr(Pipeline, "run", diverge)
    run_id = new_run()
    queue = Queue()
    queue(run_id)

    assert queue.drain(ctx) == ["failed"]
    run = load(ctx, run_id)
    assert run.status == "failed" and run.attempt_count == 1
    assert run.error == "training diverged: loss is nan at stage 0 epoch 1"
    assert [s.status for s in run.stages] == ["skipped"] * 3


def test_a_slice_ends_at_its_deadline() -> None:
    assert not StopControl(deadline=time.monotonic() + 60).should_stop()
    late = StopControl(deadline=time.monotonic() - 1)
    assert late.should_stop() and late.reason == SLICE_END
    late.request("cancelled")
    assert late.reason == SLICE_END  # the first reason wins
