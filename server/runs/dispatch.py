"""Handing run ids to the worker, after the database commit.

The hook is pluggable: `app.state.enqueue_run` (set it in tests or by the worker package), or
the setting WINOPRUNE_DISPATCHER="package.module:function". Default: a no-op, so runs stay
queued until a worker exists. A failing hook never fails the request: the run stays queued and
can be handed over again (the row, not the queue, is the source of truth).
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable

from fastapi import FastAPI

EnqueueRun = Callable[[int], None]
# The Celery workers' hook (worker/tasks.py): WINOPRUNE_DISPATCHER=worker.tasks:enqueue_run.
# `winoprune serve` and docker-compose.yml set it; without it runs stay queued.
CELERY_DISPATCHER = "worker.tasks:enqueue_run"
logger = logging.getLogger("winoprune.server.dispatch")
RESEND_FIRST_S, RESEND_MAX_S = 0.5, 10.0


def noop_enqueue(run_id: int) -> None:
    """Leave the run queued (no worker configured)."""
    logger.debug("run %s stays queued: no dispatcher configured", run_id)


def load_enqueue(dispatcher: str | None) -> EnqueueRun:
    """Import "module:function" (or return the no-op when None)."""
    if not dispatcher:
        return noop_enqueue
    module_name, _, attribute = dispatcher.partition(":")
    if not attribute:
        raise ValueError(f"dispatcher: expected 'module:function', got {dispatcher!r}")
    function: EnqueueRun = getattr(importlib.import_module(module_name), attribute)
    return function


def enqueue_run(app: FastAPI, run_id: int) -> bool:
    """Hand a committed run's id to the worker; False (logged) when the hook failed: the run
    stays queued and is re-sent in the background until the broker takes it."""
    if _try_enqueue(app, run_id):
        return True
    resender = getattr(app.state, "resender", None)
    if resender is None:
        resender = app.state.resender = Resender(app)
    resender.add(run_id)
    return False


def _try_enqueue(app: FastAPI, run_id: int) -> bool:
    hook: EnqueueRun = getattr(app.state, "enqueue_run", noop_enqueue)
    try:
        hook(run_id)
    except Exception as exc:
        logger.warning("could not enqueue run %s (%s); it stays queued", run_id, exc)
        return False
    return True


class Resender(threading.Thread):
    """Re-sends run ids the broker refused, with back-off (RESEND_FIRST_S doubling to
    RESEND_MAX_S), as soon as it answers again; the sweeper remains the last resort."""

    def __init__(self, app: FastAPI) -> None:
        super().__init__(name="winoprune-resender", daemon=True)
        self.app = app
        self.pending: set[int] = set()
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.start()

    def add(self, run_id: int) -> None:
        """Queue ``run_id`` for re-sending."""
        with self.lock:
            self.pending.add(run_id)
        self.wake.set()

    def run(self) -> None:
        delay = RESEND_FIRST_S
        while True:
            self.wake.wait(timeout=delay)
            self.wake.clear()
            with self.lock:
                batch = sorted(self.pending)
            sent = [run_id for run_id in batch if _try_enqueue(self.app, run_id)]
            with self.lock:
                self.pending.difference_update(sent)
                left = bool(self.pending)
            if sent:
                logger.info("re-sent run(s) %s after the broker came back", sent)
            delay = min(2 * delay, RESEND_MAX_S) if left and not sent else RESEND_FIRST_S
