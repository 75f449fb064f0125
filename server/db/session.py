"""Engine and session factory: SQLite gets WAL, foreign keys and a busy timeout."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import Request
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 10_000
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def create_db_engine(url: str, pool_size: int = 10) -> Engine:
    """Create an engine for a SQLite or PostgreSQL URL (the SQLite file's folder is created)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        )
        event.listen(engine, "connect", _configure_sqlite)
        return engine
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    """Per-connection pragmas: WAL lets readers run during writes; FKs enforce cascades."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def create_session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory whose objects stay readable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


def create_read_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions in autocommit mode, on the same pool: no BEGIN / ROLLBACK round trips."""
    return create_session_factory(engine.execution_options(isolation_level="AUTOCOMMIT"))


async def get_session(request: Request) -> AsyncIterator[Session]:
    """FastAPI dependency: one session per request, rolled back unless the service commits.

    GET, HEAD and OPTIONS requests get an autocommit session: they read (PostgreSQL's READ
    COMMITTED gives every statement its own snapshot in a transaction too), and their rare
    single-statement writes, such as a token's last use, commit at once.
    Async so FastAPI needs no extra thread hop to open and close it (the session connects
    lazily, inside the sync route's worker thread).
    """
    state = request.app.state
    read = request.method in READ_METHODS
    factory: sessionmaker[Session] = state.read_session_factory if read else state.session_factory
    with factory() as session:
        yield session
