"""Throttling of password guesses: N failures per key within a sliding window answer 429.

Failures are rows of the `auth_failures` table, so every service process (`serve --workers N`,
several hosts on one database) counts the same attempts. Keys are hashed: a user name typed
into the wrong field (a password, often) is never stored.
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from server.db.base import utcnow
from server.db.models import AuthFailure


def limiter_key(kind: str, *parts: str) -> str:
    """A fixed-length key for one kind of attempt ("login", "password") and its scope."""
    scope = "\x1f".join(part.strip().lower() for part in parts)
    return f"{kind}:{hashlib.sha256(scope.encode()).hexdigest()}"


class AttemptLimiter:
    """At most ``max_failures`` failed attempts per key in ``window_s`` seconds."""

    def __init__(
        self, session_factory: sessionmaker[Session], max_failures: int, window_s: float
    ) -> None:
        self.session_factory = session_factory
        self.max_failures = max_failures
        self.window_s = window_s

    def retry_after(self, key: str) -> int:
        """Seconds until another attempt is allowed (0 = allowed now)."""
        now = utcnow()
        with self.session_factory() as session:
            newest = list(
                session.scalars(
                    select(AuthFailure.created_at)
                    .where(AuthFailure.key == key, AuthFailure.created_at > self._since(now))
                    .order_by(AuthFailure.created_at.desc())
                    .limit(self.max_failures)
                )
            )
        if len(newest) < self.max_failures:
            return 0
        # Allowed again once the max_failures-th newest failure leaves the window.
        free_at = newest[-1] + timedelta(seconds=self.window_s)
        return max(1, math.ceil((free_at - now).total_seconds()))

    def record_failure(self, key: str) -> None:
        """Count one failed attempt (and drop every key's failures older than the window)."""
        now = utcnow()
        with self.session_factory() as session:
            session.execute(delete(AuthFailure).where(AuthFailure.created_at <= self._since(now)))
            session.add(AuthFailure(key=key, created_at=now))
            session.commit()

    def reset(self, key: str) -> None:
        """Forget the key's failures (after a successful attempt)."""
        with self.session_factory() as session:
            session.execute(delete(AuthFailure).where(AuthFailure.key == key))
            session.commit()

    def _since(self, now: datetime) -> datetime:
        return now - timedelta(seconds=self.window_s)
