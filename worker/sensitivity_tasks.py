"""Celery tasks of the sensitivity scans (thin: ids in, ``worker.sensitivity_runner`` does the
work) and the API's dispatch hook ``enqueue_scan``. Each task keeps the scan's heartbeat
(``worker.scan_heartbeat``) from its first moment, before the runner's imports and data load, so
that the sweeper never takes a scan whose task has just started for a lost one."""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import select

from server.db.sensitivity_models import SensitivityScan
from worker.celery_app import app, slice_limits
from worker.context import get_context, worker_settings
from worker.dispatch import Dispatcher
from worker.scan_heartbeat import scan_heartbeat

logger = logging.getLogger("winoprune.worker.sensitivity")
PLAN_TASK, LAYER_TASK = "winoprune.sensitivity_plan", "winoprune.sensitivity_layer"
SOFT_LIMIT_S, HARD_LIMIT_S = slice_limits(worker_settings())


@app.task(name=PLAN_TASK, acks_late=True, reject_on_worker_lost=True,
          soft_time_limit=SOFT_LIMIT_S, time_limit=HARD_LIMIT_S)  # fmt: skip
def sensitivity_plan(scan_id: int) -> str:
    """Record a scan's layers and baseline, fan its missing points out as layer tasks."""
    with scan_heartbeat(get_context(), scan_id):  # beats through the imports (torch) too
        from worker.sensitivity_runner import plan

        outcome = plan(get_context(), scan_id, send_layer)
    logger.info("scan %s: %s", scan_id, outcome)
    return outcome


@app.task(name=LAYER_TASK, acks_late=True, reject_on_worker_lost=True,
          soft_time_limit=SOFT_LIMIT_S, time_limit=HARD_LIMIT_S)  # fmt: skip
def sensitivity_layer(scan_id: int, layer: str, indices: list[int]) -> str:
    """Compute one layer's missing points at ``indices`` (grid positions)."""
    with scan_heartbeat(get_context(), scan_id):
        from worker.sensitivity_runner import scan_points

        outcome = scan_points(get_context(), scan_id, layer, list(indices))
    logger.info("scan %s: %s", scan_id, outcome)
    return outcome


def _queue(scan_id: int) -> str:
    settings = worker_settings()
    with get_context().session() as session:
        recipe = session.scalar(select(SensitivityScan.recipe).where(SensitivityScan.id == scan_id))
    cpu = str((recipe or {}).get("device", "auto")) == "cpu"
    return settings.worker_queue_cpu if cpu else settings.worker_queue_gpu


def send_layer(scan_id: int, layer: str, indices: list[int]) -> None:
    """Send one layer task to the scan's queue."""
    app.send_task(LAYER_TASK, args=(scan_id, layer, indices), queue=_queue(scan_id))


def enqueue_scan(scan_id: int) -> None:
    """The API's hook: send the scan's planning task (call after the commit)."""
    app.send_task(PLAN_TASK, args=(scan_id,), queue=_queue(scan_id))


def scan_dispatcher(dispatcher: Dispatcher) -> Callable[[int], None]:
    """A scan hook on a run ``Dispatcher``'s broker and queues (API processes, tests)."""

    def enqueue(scan_id: int) -> None:
        with dispatcher.sessions() as session:
            recipe = session.scalar(
                select(SensitivityScan.recipe).where(SensitivityScan.id == scan_id)
            )
        queue = dispatcher.queue_of(recipe or {})
        dispatcher.app.send_task(PLAN_TASK, args=(scan_id,), queue=queue)

    return enqueue
