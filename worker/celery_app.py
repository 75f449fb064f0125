"""The Celery application, configured from the service's settings.

Celery only transports run ids; the database is the source of truth. Late acks, requeue on a
lost worker process, a prefetch of one and explicit task names (architecture section 3). Every
task is bounded by a time slice (``worker_slice_minutes``) well inside Redis' visibility timeout.

Start a worker: ``python -m worker`` (or ``celery -A worker.celery_app worker -c 1 -Q gpu,cpu``).
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery, signals
from kombu import Queue

from server.config import Settings
from worker.context import forget_inherited_contexts, worker_settings
from worker.shutdown import arm_child_handler, install_child_handler, notify_children
from worker.threads import apply_thread_budget

logger = logging.getLogger("winoprune.worker")
VISIBILITY_MARGIN_S = 600


def slice_limits(settings: Settings) -> tuple[float, float]:
    """(soft, hard) time limits of one slice task in seconds."""
    soft = settings.worker_slice_minutes * 60 + settings.worker_slice_grace_s
    return soft, soft + 60


def transport_options(settings: Settings) -> dict[str, Any]:
    """Broker options: Redis redelivers unacked tasks after the visibility timeout, which must
    exceed the longest task; the SQLAlchemy transport passes options to create_engine: none."""
    scheme = settings.resolved_broker_url.split("://", 1)[0].lower()
    if scheme in ("redis", "rediss"):
        return {"visibility_timeout": int(slice_limits(settings)[1] + VISIBILITY_MARGIN_S)}
    return {}


def check_settings(settings: Settings) -> None:
    """Refuse settings with which leases cannot work."""
    if settings.worker_lease_s < 3 * settings.worker_heartbeat_s:
        raise ValueError(
            f"worker_lease_s: must be at least 3 x worker_heartbeat_s "
            f"({settings.worker_heartbeat_s}), got {settings.worker_lease_s}"
        )


def create_celery_app(settings: Settings) -> Celery:
    """A Celery app for these settings (tasks in worker.tasks)."""
    app = Celery("winoprune", broker=settings.resolved_broker_url, include=["worker.tasks"])
    queues = (settings.worker_queue_gpu, settings.worker_queue_cpu)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_concurrency=1,
        task_ignore_result=True,
        task_store_errors_even_if_ignored=False,
        task_default_queue=settings.worker_queue_cpu,
        task_queues=[Queue(name) for name in dict.fromkeys(queues)],
        task_serializer="json",
        accept_content=["json"],
        broker_transport_options=transport_options(settings),
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,  # keep reconnecting through a broker restart
        # a slice outlives a broker restart: its lease, not the message, guards the run
        worker_cancel_long_running_tasks_on_connection_loss=False,
        # remote control needs fanout exchanges, which the embedded transports lack
        worker_enable_remote_control=not settings.broker_is_embedded,
        worker_hijack_root_logger=False,
        timezone="UTC",
    )
    return app


app = create_celery_app(worker_settings())

_sweeper: Any = None
_advertiser: Any = None


@signals.worker_process_init.connect
def _child_started(**_: Any) -> None:
    forget_inherited_contexts()
    apply_thread_budget(worker_settings())  # its share of the cores, not one thread per core
    install_child_handler()  # the main process's SIGTERM reaches the training step


signals.worker_shutting_down.connect(notify_children)
signals.task_prerun.connect(arm_child_handler)  # after billiard's signal reset


@signals.worker_ready.connect
def _start_sweeper(**_: Any) -> None:
    """Every worker's main process sweeps for abandoned runs (see worker.sweeper)."""
    global _sweeper, _advertiser
    settings = worker_settings()
    check_settings(settings)
    from worker.capabilities import Advertiser
    from worker.context import get_context

    _advertiser = Advertiser(get_context(settings).session_factory, settings)
    _advertiser.start()  # devices and data folders, for the service's submit check
    if settings.worker_sweep_interval_s <= 0:
        return
    from worker.sweeper import SweeperThread
    from worker.tasks import sweep_now

    _sweeper = SweeperThread(sweep_now, settings.worker_sweep_interval_s)
    _sweeper.start()


@signals.worker_shutdown.connect
def _stop_sweeper(**_: Any) -> None:
    if _sweeper is not None:
        _sweeper.stop()
    if _advertiser is not None:
        _advertiser.stop()
