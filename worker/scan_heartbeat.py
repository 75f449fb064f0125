"""The heartbeat of a sensitivity scan: its planning and layer tasks touch the scan's row
(``heartbeat_at``) while they compute, so that the sweeper (``worker.scan_sweeper``) can tell a
scan that nobody works on any more (the worker was killed, its host or its message was lost)
from one whose points are still being computed.

A scan has no owner: any of its tasks, on any worker, keeps it alive. A background thread beats
every ``worker_heartbeat_s`` so that one long point (a large model's evaluation) does not look
like a dead worker.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import update
from sqlalchemy.orm import Session

from server.db.base import utcnow
from server.db.sensitivity_models import SensitivityScan
from worker.context import WorkerContext

logger = logging.getLogger("winoprune.worker.sensitivity")
ACTIVE = ("queued", "running")


def touch_scan(session: Session, scan_id: int) -> bool:
    """Mark the scan alive now, only while it is queued or running (no commit); whether it
    still is."""
    result = session.execute(
        update(SensitivityScan)
        .where(SensitivityScan.id == scan_id, SensitivityScan.status.in_(ACTIVE))
        .values(heartbeat_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


class _Beats(threading.Thread):
    def __init__(self, ctx: WorkerContext, scan_id: int) -> None:
        super().__init__(name=f"heartbeat-scan-{scan_id}", daemon=True)
        self.ctx, self.scan_id = ctx, scan_id
        self.stopped = threading.Event()

    def beat(self) -> None:
        with self.ctx.session() as session:
            touch_scan(session, self.scan_id)
            session.commit()

    def run(self) -> None:
        while not self.stopped.wait(self.ctx.settings.worker_heartbeat_s):
            try:
                self.beat()
            except Exception:  # a database blip: the next beat tries again
                logger.exception("heartbeat of scan %s failed", self.scan_id)


@contextmanager
def scan_heartbeat(ctx: WorkerContext, scan_id: int) -> Iterator[None]:
    """Beat for ``scan_id`` at once and then in a thread until the block ends."""
    beats = _Beats(ctx, scan_id)
    beats.beat()
    beats.start()
    try:
        yield
    finally:
        beats.stopped.set()
        beats.join(timeout=ctx.settings.worker_lease_s)
