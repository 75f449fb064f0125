"""Sending run ids to the workers' queues (used by the API's dispatch hook and the workers)."""

from __future__ import annotations

from typing import Any

from celery import Celery
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from server.config import Settings
from server.db.models import Run
from server.db.session import create_db_engine, create_session_factory

RUN_SLICE_TASK = "winoprune.run_slice"


class Dispatcher:
    """Sends ``winoprune.run_slice`` messages to a run's queue through ``app``'s broker."""

    def __init__(self, settings: Settings, app: Celery, sessions: sessionmaker[Session]) -> None:
        self.settings, self.app, self.sessions = settings, app, sessions

    @classmethod
    def for_settings(cls, settings: Settings) -> Dispatcher:
        """A dispatcher with its own Celery app and database engine (API processes, tests)."""
        from worker.celery_app import create_celery_app

        engine = create_db_engine(settings.resolved_database_url, pool_size=2)
        return cls(settings, create_celery_app(settings), create_session_factory(engine))

    def queue_of(self, recipe: dict[str, Any]) -> str:
        """CPU queue for recipes that ask for the CPU, the GPU queue for all others."""
        if str(recipe.get("device", "auto")) == "cpu":
            return self.settings.worker_queue_cpu
        return self.settings.worker_queue_gpu

    def queue_size(self, queue: str) -> int:
        """Messages waiting in a queue (delivered, unacknowledged ones are not counted)."""
        with self.app.connection_for_write() as connection:
            declared = connection.default_channel.queue_declare(queue=queue, passive=False)
            return int(declared.message_count)

    def __call__(
        self,
        run_id: int,
        token: str | None = None,
        countdown: float | None = None,
        queue: str | None = None,
    ) -> None:
        """Enqueue the next slice of ``run_id`` (call after the commit that queued it)."""
        if queue is None:
            with self.sessions() as session:
                recipe = session.scalar(select(Run.recipe).where(Run.id == run_id))
            queue = self.queue_of(recipe or {})
        self.app.send_task(
            RUN_SLICE_TASK, args=(run_id, token), queue=queue, countdown=countdown or None
        )
