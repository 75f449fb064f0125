"""The sweeper's part for sensitivity scans (``worker.sweeper.sweep`` calls it).

A running scan whose heartbeat (``worker.scan_heartbeat``) is older than the runs' lease TTL
(``worker_lease_s``) while its queue is empty has nobody working on it: its worker was killed or
lost its host, or a message was lost. A queued scan waits the longer of that and
``worker_requeue_after_s`` (as a queued run does) before its planning message counts as lost.

- The planning task is sent again, which is safe: it fans out only the points still missing,
  and points merge by key. Each re-send counts an attempt; after ``worker_max_attempts`` (as for
  runs) the scan fails with the reason.
- A stale scan whose cancel was asked is cancelled here, with no worker.
- Succeeded, failed and cancelled scans are never touched.

Every change is a conditional UPDATE on the state read, so any number of sweepers may run at
once: of two that see the same stale scan, one re-sends it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from server.db.base import utcnow
from server.db.sensitivity_models import SensitivityScan as Scan
from server.events.service import publish_scan
from worker.context import WorkerContext

logger = logging.getLogger("winoprune.worker.sweeper")

EnqueueScan = Callable[[int], None]  # sends the scan's planning task
QueueOf = Callable[[dict[str, Any]], str]
QueueSize = Callable[[str], int]


def sweep_scans(
    ctx: WorkerContext,
    session: Session,
    enqueue_scan: EnqueueScan,
    queue_of: QueueOf,
    size: QueueSize,
) -> tuple[list[int], list[int]]:
    """One pass over the scans; (re-sent scan ids, failed or cancelled scan ids)."""
    now = utcnow()
    lease_s = ctx.settings.worker_lease_s
    queued_s = max(lease_s, ctx.settings.worker_requeue_after_s)
    stale = or_(
        _stale("running", now - timedelta(seconds=lease_s)),
        _stale("queued", now - timedelta(seconds=queued_s)),
    )
    columns = (Scan.id, Scan.project_id, Scan.status, Scan.heartbeat_at, Scan.updated_at)
    rows = session.execute(
        select(*columns, Scan.attempt_count, Scan.cancel_requested, Scan.recipe)
        .where(stale)
        .order_by(Scan.id)
    ).all()
    session.rollback()  # end the read transaction before the writes
    sizes: dict[str, int] = {}
    resent: list[int] = []
    settled: list[int] = []
    for scan_id, project_id, status, beat, updated, attempts, cancel, recipe in rows:
        same = (
            Scan.id == scan_id,
            Scan.status == status,
            Scan.attempt_count == attempts,
            Scan.heartbeat_at.is_not_distinct_from(beat),
            Scan.updated_at == updated,
        )
        last = beat or updated
        if cancel:
            error = "cancelled on request (its worker had stopped)"
            if _settle(session, project_id, scan_id, same, "cancelled", error):
                settled.append(scan_id)
            continue
        queue = queue_of(recipe or {})
        if queue not in sizes:
            sizes[queue] = size(queue)
        if sizes[queue] > 0:
            continue  # its tasks may still be waiting there
        if attempts >= ctx.settings.worker_max_attempts:
            if _settle(session, project_id, scan_id, same, "failed", _gave_up(last, attempts)):
                settled.append(scan_id)
            continue
        if _resend(session, project_id, scan_id, same, now, last):
            enqueue_scan(scan_id)
            resent.append(scan_id)
    return resent, settled


def _stale(status: str, before: datetime) -> Any:
    """Scans in ``status`` with no beat since ``before`` (never beaten: no change since)."""
    beat = or_(
        Scan.heartbeat_at < before, and_(Scan.heartbeat_at.is_(None), Scan.updated_at < before)
    )
    return and_(Scan.status == status, beat)


def _gave_up(last: datetime, attempts: int) -> str:
    return (
        f"worker lost: no heartbeat from the scan's tasks since {last:%Y-%m-%d %H:%M:%S} UTC;"
        f" gave up after {attempts} attempt(s)"
    )


def _resend(
    session: Session,
    project_id: int,
    scan_id: int,
    same: tuple[Any, ...],
    now: datetime,
    last: datetime,
) -> bool:
    changed = session.execute(
        update(Scan)
        .where(*same)
        .values(heartbeat_at=now, attempt_count=Scan.attempt_count + 1)
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        return False
    message = f"no heartbeat since {last:%Y-%m-%d %H:%M:%S} UTC; planned again"
    publish_scan(session, project_id, scan_id, "scan.updated", message=message)
    session.commit()
    logger.info("scan %s: %s", scan_id, message)
    return True


def _settle(
    session: Session,
    project_id: int,
    scan_id: int,
    same: tuple[Any, ...],
    status: str,
    error: str,
) -> bool:
    changed = session.execute(
        update(Scan)
        .where(*same)
        .values(status=status, error=error, finished_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        return False
    publish_scan(session, project_id, scan_id, "scan.finished", status=status, error=error)
    session.commit()
    logger.info("scan %s: %s (%s)", scan_id, status, error)
    return True
