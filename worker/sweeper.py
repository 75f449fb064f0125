"""The sweeper: finds runs that nobody is working on and hands them out again.

It runs in every worker's main process (a thread, every ``worker_sweep_interval_s``) and as the
task ``winoprune.sweep`` for a Celery beat. All its changes are conditional UPDATEs, so any
number of sweepers may run at once.

- Expired lease (the worker was killed, its host died, the broker lost the task): re-queue the
  run with a new handover token, counting an attempt; after ``worker_max_attempts`` the run fails
  with the reason.
- Queued or handed-over runs untouched for ``worker_requeue_after_s`` while their queue is empty:
  the message was lost (broker restarted without persistence, a publish failed, the embedded
  broker's worker died holding it); send it again. A duplicate message is harmless: its claim
  fails and it is dropped.
- Sensitivity scans with no heartbeat for the lease TTL get their planning task again, and fail
  after as many attempts (``worker.scan_sweeper``), when the caller passes ``enqueue_scan``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from server.db.base import utcnow
from server.db.models import Run
from server.events.service import publish
from worker.context import WorkerContext
from worker.leases import HANDOFF, new_token
from worker.scan_sweeper import EnqueueScan, sweep_scans
from worker.settle import settle_stages

logger = logging.getLogger("winoprune.worker.sweeper")

Enqueue = Callable[..., None]  # enqueue(run_id, token=None)
QueueOf = Callable[[dict[str, Any]], str]  # recipe -> queue name
QueueSize = Callable[[str], int]  # queue name -> messages waiting


@dataclass
class SweepReport:
    """Run ids the sweep re-queued or failed; scan ids it planned again or settled."""

    requeued: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    scans_requeued: list[int] = field(default_factory=list)
    scans_failed: list[int] = field(default_factory=list)  # failed, or cancelled as asked


def sweep(
    ctx: WorkerContext,
    enqueue: Enqueue,
    queue_of: QueueOf,
    size: QueueSize,
    enqueue_scan: EnqueueScan | None = None,
) -> SweepReport:
    """One pass over the runs table, and the scans' when ``enqueue_scan`` is given (see the
    module docstring)."""
    report = SweepReport()
    with ctx.session() as session:
        _recover_expired(ctx, session, enqueue, report)
        _resend_lost(ctx, session, enqueue, queue_of, size, report)
    if enqueue_scan is not None:
        with ctx.session() as session:
            resent, settled = sweep_scans(ctx, session, enqueue_scan, queue_of, size)
        report.scans_requeued, report.scans_failed = resent, settled
    if report.requeued or report.failed:
        logger.info("sweep: requeued %s, failed %s", report.requeued, report.failed)
    return report


def _recover_expired(
    ctx: WorkerContext, session: Session, enqueue: Enqueue, report: SweepReport
) -> None:
    now = utcnow()
    expired = session.execute(
        select(Run.id, Run.project_id, Run.lease_owner, Run.attempt_count, Run.heartbeat_at).where(
            Run.status == "running",
            Run.external.is_(False),  # external runs have no worker to lose
            Run.lease_owner.is_not(None),
            Run.lease_owner.not_like(f"{HANDOFF}%"),
            Run.lease_expires_at < now,
        )
    ).all()
    limit = ctx.settings.worker_max_attempts
    for run_id, project_id, owner, attempts, beat in expired:
        same = (Run.id == run_id, Run.lease_owner == owner, Run.lease_expires_at < now)
        if attempts >= limit:
            reason = (
                f"worker lost: {owner} stopped sending heartbeats at {beat:%Y-%m-%d %H:%M:%S}"
                f" UTC; gave up after {attempts} attempt(s)"
            )
            if _fail(session, run_id, project_id, same, reason):
                report.failed.append(run_id)
            continue
        token = new_token()
        changed = session.execute(
            update(Run)
            .where(*same)
            .values(
                lease_owner=HANDOFF + token,
                lease_expires_at=None,
                heartbeat_at=now,
                attempt_count=Run.attempt_count + 1,
            )
            .execution_options(synchronize_session=False)
        )
        if changed.rowcount == 1:  # type: ignore[attr-defined]
            publish(
                session,
                project_id,
                run_id,
                "log",
                message=f"worker {owner} stopped sending heartbeats; re-queued",
            )
            session.commit()
            enqueue(run_id, token=token)
            report.requeued.append(run_id)
        else:
            session.rollback()


def _fail(
    session: Session, run_id: int, project_id: int, same: tuple[Any, ...], reason: str
) -> bool:
    now = utcnow()
    changed = session.execute(
        update(Run)
        .where(*same)
        .values(
            status="failed", error=reason, finished_at=now, lease_owner=None, lease_expires_at=None
        )
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        return False
    settle_stages(session, run_id, "failed")
    publish(session, project_id, run_id, "run.finished", status="failed", error=reason)
    session.commit()
    return True


def _resend_lost(
    ctx: WorkerContext,
    session: Session,
    enqueue: Enqueue,
    queue_of: QueueOf,
    size: QueueSize,
    report: SweepReport,
) -> None:
    now = utcnow()
    before = now - timedelta(seconds=ctx.settings.worker_requeue_after_s)
    untouched = or_(Run.heartbeat_at.is_(None), Run.heartbeat_at < before)
    waiting = or_(
        (Run.status == "queued") & (Run.updated_at < before),
        (Run.status == "running") & Run.lease_owner.like(f"{HANDOFF}%"),
    )
    rows = session.execute(
        select(Run.id, Run.status, Run.lease_owner, Run.heartbeat_at, Run.recipe).where(
            waiting, untouched, Run.external.is_(False)
        )
    ).all()
    sizes: dict[str, int] = {}
    for run_id, status, owner, beat, recipe in rows:
        queue = queue_of(recipe)
        if queue not in sizes:
            sizes[queue] = size(queue)
        if sizes[queue] > 0:
            continue  # its message may still be waiting there
        token = None if status == "queued" else new_token()
        values: dict[str, Any] = {"heartbeat_at": now}
        if token is not None:
            values["lease_owner"] = HANDOFF + token
        changed = session.execute(
            update(Run)
            .where(
                Run.id == run_id,
                Run.status == status,
                Run.lease_owner.is_not_distinct_from(owner),
                Run.heartbeat_at.is_not_distinct_from(beat),
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if changed.rowcount != 1:  # type: ignore[attr-defined]
            session.rollback()
            continue
        session.commit()
        enqueue(run_id, token=token)
        report.requeued.append(run_id)


class SweeperThread(threading.Thread):
    """Calls ``sweep_once`` every ``interval_s`` until stopped; errors are logged, not fatal."""

    def __init__(self, sweep_once: Callable[[], object], interval_s: float) -> None:
        super().__init__(name="winoprune-sweeper", daemon=True)
        self.sweep_once, self.interval_s = sweep_once, interval_s
        self._stopped = threading.Event()

    def run(self) -> None:
        while not self._stopped.wait(self.interval_s):
            try:
                self.sweep_once()
            except Exception:
                logger.exception("sweep failed")

    def stop(self) -> None:
        """End the thread."""
        self._stopped.set()
        self.join(timeout=self.interval_s + 5)
