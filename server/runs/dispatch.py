"""Handing run ids to the worker, after the database commit.

The hook is pluggable: `app.state.enqueue_run` (set it in tests or by the worker package), or
the setting WINOPRUNE_DISPATCHER="package.module:function". Default: a no-op, so runs stay
queued until a worker exists. A failing hook never fails the request: the run stays queued and
can be handed over again (the row, not the queue, is the source of truth).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable

from fastapi import FastAPI

EnqueueRun = Callable[[int], None]
# The Celery workers' hook (worker/tasks.py): WINOPRUNE_DISPATCHER=worker.tasks:enqueue_run.
# `winoprune serve` and docker-compose.yml set it; without it runs stay queued.
CELERY_DISPATCHER = "worker.tasks:enqueue_run"
logger = logging.getLogger("winoprune.server.dispatch")


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
    """Hand a committed run's id to the worker; False (logged) when the hook failed."""
    hook: EnqueueRun = getattr(app.state, "enqueue_run", noop_enqueue)
    try:
        hook(run_id)
    except Exception:
        logger.exception("could not enqueue run %s; it stays queued", run_id)
        return False
    return True
