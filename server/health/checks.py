"""Readiness checks: the database answers, the broker is reachable (pluggable per URL)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

BrokerCheck = Callable[[], None]  # raises when the broker is not reachable
REDIS_TIMEOUT_S = 1.0


def check_database(engine: Engine) -> None:
    """Run SELECT 1."""
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def broker_check_for(url: str) -> BrokerCheck:
    """The default broker check for a Celery broker URL."""
    scheme = url.split("://", 1)[0].lower()
    if scheme in ("redis", "rediss"):
        return lambda: _ping_redis(url)
    if scheme.startswith("sqla+"):
        return lambda: _check_sqlite_broker(url.removeprefix("sqla+"))
    if scheme in ("filesystem", "memory"):
        return lambda: None
    return lambda: None  # unknown transports: assume the worker package checks them


def _ping_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(
        url, socket_connect_timeout=REDIS_TIMEOUT_S, socket_timeout=REDIS_TIMEOUT_S
    )
    try:
        client.ping()
    finally:
        client.close()


def _check_sqlite_broker(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return
    folder = Path(parsed.database).resolve().parent
    folder.mkdir(parents=True, exist_ok=True)
    if not os.access(folder, os.W_OK):
        raise OSError(f"broker folder {folder} is not writable")
