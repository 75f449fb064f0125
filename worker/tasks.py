"""Celery tasks (thin: ids in, everything else from the database) and the dispatch hook.

The API hands committed run ids to ``enqueue_run`` (WINOPRUNE_DISPATCHER=
"worker.tasks:enqueue_run"); runs whose recipe says device "cpu" go to the CPU queue, all
others to the GPU queue.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from worker.celery_app import app, slice_limits
from worker.context import get_context, worker_settings
from worker.dispatch import RUN_SLICE_TASK, Dispatcher

logger = logging.getLogger("winoprune.worker.tasks")
SOFT_LIMIT_S, HARD_LIMIT_S = slice_limits(worker_settings())


@app.task(
    name=RUN_SLICE_TASK,
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=SOFT_LIMIT_S,
    time_limit=HARD_LIMIT_S,
)
def run_slice(run_id: int, token: str | None = None) -> str:
    """Train one time slice of a run (claims its lease first; a stale message does nothing)."""
    from worker.runner import run_slice as execute  # torch is imported in the pool process only

    outcome = execute(get_context(), run_id, token, enqueue_run)
    logger.info("run %s: %s", run_id, outcome)
    return outcome


@app.task(name="winoprune.sweep", acks_late=False, soft_time_limit=300, time_limit=360)
def sweep() -> dict[str, list[int]]:
    """Re-queue abandoned runs and scans, fail those out of attempts (for a Celery beat)."""
    report = sweep_now()
    return {
        "requeued": report.requeued,
        "failed": report.failed,
        "scans_requeued": report.scans_requeued,
        "scans_failed": report.scans_failed,
    }


def sweep_now() -> Any:
    """One sweep in this process (the worker's sweeper thread calls it)."""
    from worker.sensitivity_tasks import scan_dispatcher
    from worker.sweeper import sweep as sweep_runs

    dispatcher = default_dispatcher()
    return sweep_runs(
        get_context(),
        dispatcher,
        dispatcher.queue_of,
        dispatcher.queue_size,
        enqueue_scan=scan_dispatcher(dispatcher),
    )


_dispatchers: dict[int, Dispatcher] = {}


def default_dispatcher() -> Dispatcher:
    """This process's dispatcher (the worker's settings, broker and database)."""
    pid = os.getpid()
    if pid not in _dispatchers:
        _dispatchers[pid] = Dispatcher(worker_settings(), app, get_context().session_factory)
    return _dispatchers[pid]


def enqueue_run(
    run_id: int, token: str | None = None, countdown: float | None = None, queue: str | None = None
) -> None:
    """Send a run's next slice to its queue: the API's dispatch hook (call after the commit)."""
    default_dispatcher()(run_id, token=token, countdown=countdown, queue=queue)


# the sensitivity scans' tasks (issue 17) register on the same app
from worker.sensitivity_tasks import enqueue_scan  # noqa: E402, F401  (registers its tasks)
