"""A deploy's SIGTERM ends a training slice at the next step, not at the slice's end.

Celery's warm shutdown (SIGTERM to the worker's main process) waits for the running task; the
main process therefore tells its pool processes with SIGUSR2 (unused by Celery's children;
SIGTERM and SIGUSR1 keep their meaning there). A pool process that got it stops its pipeline
at the next step: the stage checkpoints, the run is handed over (no attempt counted) and its
next slice is enqueued for whichever worker runs next.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from types import FrameType
from typing import Any

logger = logging.getLogger("winoprune.worker")
SHUTDOWN_SIGNAL = signal.SIGUSR2
_requested = threading.Event()


def shutdown_requested() -> bool:
    """True once this process was asked to stop training (read between steps)."""
    return _requested.is_set()


def _on_signal(_signum: int, _frame: FrameType | None) -> None:
    _requested.set()


def install_child_handler() -> None:
    """In a new pool process: forget an inherited request; SHUTDOWN_SIGNAL requests a stop at
    the next training step."""
    _requested.clear()
    arm_child_handler()


def arm_child_handler(**_: Any) -> None:
    """Before each task: (re)install the SHUTDOWN_SIGNAL handler. billiard resets a pool
    process's signals to its exit handler *after* Celery's process-init hooks run, so a handler
    installed only there is gone by the time a task trains (the child would exit with code 70
    and the sweeper would count an attempt)."""
    signal.signal(SHUTDOWN_SIGNAL, _on_signal)


def notify_children(**_: Any) -> None:
    """In the main process, at the start of a warm shutdown: signal every pool process."""
    from billiard import active_children

    _requested.set()  # a solo/threads pool trains in this very process
    for child in active_children():
        if child.pid:
            try:
                os.kill(child.pid, SHUTDOWN_SIGNAL)
                logger.info("asked pool process %s to checkpoint and hand its run back", child.pid)
            except ProcessLookupError:
                pass
