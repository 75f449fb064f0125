"""Leases, fenced reporting and the sweeper against a real SQLite database."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update

from server.db.base import utcnow
from server.db.models import Metric, Run
from winoprune.pruning.metrics import LayerStat
from winoprune.training.pipeline import EpochReport
from worker import leases
from worker.context import WorkerContext
from worker.heartbeat import LEASE_LOST, StopControl
from worker.reporting import DbReporter, RunRef
from worker.sweeper import sweep

LEASE_S, MAX_ATTEMPTS = 30.0, 3


def claim(ctx: WorkerContext, run_id: int, owner: str, token: str | None = None) -> Any:
    with ctx.session() as session:
        return leases.claim(session, run_id, owner, token, LEASE_S, MAX_ATTEMPTS)


def run_row(ctx: WorkerContext, run_id: int) -> Run:
    with ctx.session() as session:
        run = session.get(Run, run_id)
        assert run is not None
        return run


def expire(ctx: WorkerContext, run_id: int, seconds_ago: float = 5) -> None:
    with ctx.session() as session:
        past = utcnow() - timedelta(seconds=seconds_ago)
        session.execute(update(Run).where(Run.id == run_id).values(lease_expires_at=past))
        session.commit()


def test_only_one_worker_claims_a_queued_run(
    ctx: WorkerContext, new_run: Callable[..., int]
) -> None:
    run_id = new_run()
    first = claim(ctx, run_id, "w1")
    assert first is not None and first.fresh and first.attempt == 1
    assert claim(ctx, run_id, "w2") is None
    run = run_row(ctx, run_id)
    assert (run.status, run.lease_owner, run.attempt_count) == ("running", "w1", 1)


def test_a_handover_is_claimed_only_with_its_token(
    ctx: WorkerContext, new_run: Callable[..., int]
) -> None:
    run_id = new_run()
    claim(ctx, run_id, "w1")
    with ctx.session() as session:
        token = leases.hand_over(session, run_id, "w1")
    assert token is not None
    assert claim(ctx, run_id, "w2") is None
    assert claim(ctx, run_id, "w2", "not-the-token") is None
    second = claim(ctx, run_id, "w2", token)
    assert second is not None and second.kind == "handoff" and second.attempt == 1
    assert claim(ctx, run_id, "w3", token) is None  # a token is good once


def test_an_expired_lease_is_taken_over_until_attempts_run_out(
    ctx: WorkerContext, new_run: Callable[..., int]
) -> None:
    run_id = new_run()
    claim(ctx, run_id, "w1")
    assert claim(ctx, run_id, "w2") is None  # lease still valid
    expire(ctx, run_id)
    takeover = claim(ctx, run_id, "w2")
    assert takeover is not None and takeover.kind == "takeover" and takeover.attempt == 2
    expire(ctx, run_id)
    assert claim(ctx, run_id, "w3") is not None
    expire(ctx, run_id)
    assert claim(ctx, run_id, "w4") is None  # 3 attempts used
    with ctx.session() as session:  # the old owner is fenced out
        assert not leases.touch(session, run_id, "w1")


def _report(top1: float) -> EpochReport:
    layer = LayerStat("conv1", "spatial", 10, 5, 0.5, 100, 100, None, None)
    return EpochReport(
        0, "spatial-structured", 1, {"top1": top1, "lr": 0.1}, [layer], {"winograd_sparsity": 0.25}
    )


def _reporter(ctx: WorkerContext, run_id: int, owner: str) -> DbReporter:
    run = run_row(ctx, run_id)
    ref = RunRef(run.id, run.project_id, run.created_by_id, run.model_name)
    return DbReporter(ctx, ref, owner, StopControl(deadline=float("inf")), {"device": "cpu"})


def test_epoch_rows_are_upserted_and_fenced(
    ctx: WorkerContext, new_run: Callable[..., int]
) -> None:
    run_id = new_run()
    claim(ctx, run_id, "w1")
    reporter = _reporter(ctx, run_id, "w1")
    reporter.on_epoch(_report(0.5))
    reporter.on_epoch(_report(0.75))  # the same epoch again (a redelivered stage)
    with ctx.session() as session:
        rows = session.execute(
            select(Metric.key, Metric.value).where(Metric.run_id == run_id)
        ).all()
    assert sorted(rows) == [("lr", 0.1), ("top1", 0.75), ("winograd_sparsity", 0.25)]
    assert (run_row(ctx, run_id).progress_stage, run_row(ctx, run_id).progress_epoch) == (0, 1)

    expire(ctx, run_id)
    assert claim(ctx, run_id, "w2") is not None
    reporter.on_epoch(EpochReport(0, "spatial-structured", 2, {"top1": 0.9}, [], {}))
    assert reporter.control.reason == LEASE_LOST
    with ctx.session() as session:
        count = session.scalar(select(func.count()).select_from(Metric).where(Metric.epoch == 2))
    assert count == 0


def test_sweeper_requeues_a_lost_run_then_fails_it(
    ctx: WorkerContext, new_run: Callable[..., int]
) -> None:
    run_id = new_run()
    claim(ctx, run_id, "w1")
    sent: list[tuple[int, str | None]] = []

    def enqueue(rid: int, token: str | None = None) -> None:
        sent.append((rid, token))

    def no_queue(_recipe: dict[str, Any]) -> str:
        return "cpu"

    assert sweep(ctx, enqueue, no_queue, lambda _q: 1).requeued == []  # lease still valid
    expire(ctx, run_id)
    assert sweep(ctx, enqueue, no_queue, lambda _q: 1).requeued == [run_id]
    assert sent[0][0] == run_id and sent[0][1]
    assert run_row(ctx, run_id).attempt_count == 2
    assert claim(ctx, run_id, "w2", sent[0][1]) is not None

    expire(ctx, run_id)  # lost again: attempt 3 ...
    sweep(ctx, enqueue, no_queue, lambda _q: 1)
    claim(ctx, run_id, "w3", sent[1][1])
    expire(ctx, run_id)  # ... and again: out of attempts
    report = sweep(ctx, enqueue, no_queue, lambda _q: 1)
    run = run_row(ctx, run_id)
    assert report.failed == [run_id] and run.status == "failed"
    assert run.error is not None and "w3" in run.error and "3 attempt" in run.error


def test_sweeper_resends_lost_queued_runs_only_when_the_queue_is_empty(
    ctx: WorkerContext, new_run: Callable[..., int]
) -> None:
    run_id = new_run()
    with ctx.session() as session:
        old = utcnow() - timedelta(seconds=10 * ctx.settings.worker_requeue_after_s)
        session.execute(update(Run).where(Run.id == run_id).values(updated_at=old))
        session.commit()
    sent: list[int] = []

    def enqueue(rid: int, token: str | None = None) -> None:
        sent.append(rid)

    assert sweep(ctx, enqueue, lambda _r: "cpu", lambda _q: 2).requeued == []
    assert sweep(ctx, enqueue, lambda _r: "cpu", lambda _q: 0).requeued == [run_id]
    assert sweep(ctx, enqueue, lambda _r: "cpu", lambda _q: 0).requeued == []  # just re-sent
    assert sent == [run_id]
