"""The heartbeat of a running task: renews the lease and watches for cancel requests.

A background thread does the database work every ``interval_s``; the training loop only reads
``StopControl.reason`` (an attribute) between steps, so ``should_stop()`` stays cheap.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy.orm import Session

from worker import leases
from worker.shutdown import shutdown_requested

logger = logging.getLogger("winoprune.worker.heartbeat")

CANCELLED, LEASE_LOST, SLICE_END = "cancelled", "lease lost", "slice end"
SHUTDOWN = "worker shutdown"  # SIGTERM to the worker: checkpoint, hand the run over


class StopControl:
    """Why the pipeline should stop (None: keep going); the slice ends at ``deadline``."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline  # time.monotonic() value
        self.reason: str | None = None

    def request(self, reason: str) -> None:
        """Ask the pipeline to stop (the first reason wins)."""
        if self.reason is None:
            self.reason = reason

    def should_stop(self) -> bool:
        """Called between training steps: an attribute read and a clock read."""
        if self.reason is None and shutdown_requested():
            self.reason = SHUTDOWN
        if self.reason is None and time.monotonic() >= self.deadline:
            self.reason = SLICE_END
        return self.reason is not None


class Heartbeat(threading.Thread):
    """Renews ``owner``'s lease on ``run_id`` every ``interval_s`` until stopped."""

    def __init__(
        self,
        session_factory: Callable[[], Session],
        run_id: int,
        owner: str,
        control: StopControl,
        interval_s: float,
        lease_s: float,
    ) -> None:
        super().__init__(name=f"heartbeat-run-{run_id}", daemon=True)
        self.session_factory, self.run_id, self.owner = session_factory, run_id, owner
        self.control, self.interval_s, self.lease_s = control, interval_s, lease_s
        self._stopped = threading.Event()

    def beat(self) -> None:
        """One renewal; flags the stop reason when the lease is gone or a cancel is asked."""
        with self.session_factory() as session:
            state = leases.renew(session, self.run_id, self.owner, self.lease_s)
        if not state.held:
            self.control.request(LEASE_LOST)
        elif state.cancel_requested:
            self.control.request(CANCELLED)

    def run(self) -> None:
        last_ok = time.monotonic()
        while not self._stopped.wait(self.interval_s):
            try:
                self.beat()
                last_ok = time.monotonic()
            except Exception:  # a database blip: keep trying until the lease would be gone
                logger.exception("heartbeat of run %s failed", self.run_id)
                if time.monotonic() - last_ok > self.lease_s:
                    self.control.request(LEASE_LOST)

    def stop(self) -> None:
        """End the thread (waits for a beat in progress)."""
        self._stopped.set()
        self.join(timeout=self.lease_s)
