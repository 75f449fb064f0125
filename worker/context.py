"""Per-process worker state: settings, database sessions and the checkpoint store.

Celery's prefork pool forks children from the main process; a database engine must not cross a
fork, so the state is built lazily once per process id.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache

from sqlalchemy.orm import Session, sessionmaker

from server.config import Settings
from server.db.session import create_db_engine, create_session_factory
from worker.checkpoints import CheckpointStore, build_store


@dataclass
class WorkerContext:
    """What a task needs besides the run id."""

    settings: Settings
    session_factory: sessionmaker[Session]
    store: CheckpointStore

    def session(self) -> Session:
        """A new session (the caller closes it: `with ctx.session() as s:`)."""
        return self.session_factory()


@cache
def worker_settings() -> Settings:
    """The worker's settings, read once from WINOPRUNE_* environment variables."""
    return Settings()


_contexts: dict[int, WorkerContext] = {}


def get_context(settings: Settings | None = None) -> WorkerContext:
    """This process's context (built on first use after a fork)."""
    pid = os.getpid()
    context = _contexts.get(pid)
    if context is None:
        settings = settings or worker_settings()
        engine = create_db_engine(settings.resolved_database_url, pool_size=2)
        context = WorkerContext(settings, create_session_factory(engine), build_store(settings))
        _contexts[pid] = context
    return context


def forget_inherited_contexts() -> None:
    """In a freshly forked child: drop the parent's engines without closing its connections."""
    for pid in [p for p in _contexts if p != os.getpid()]:
        bind = _contexts.pop(pid).session_factory.kw.get("bind")
        if bind is not None:
            bind.dispose(close=False)
