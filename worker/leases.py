"""Run leases in the database, so that a run is never trained by two workers at once.

A lease is the pair (runs.lease_owner, runs.lease_expires_at) of a run in status "running":

- owned: ``lease_owner`` is a worker's id and ``lease_expires_at`` lies ahead; the heartbeat
  renews it every few seconds;
- expired: the owner stopped beating (killed, lost its host); anyone may take it over, which
  counts as a new attempt;
- handed over: ``lease_owner = "handoff:<token>"`` with no expiry: between two time slices, or
  re-queued by the sweeper; only the task that carries ``<token>`` may claim it.

Every transition is one conditional UPDATE on the state the caller saw, so of two workers racing
for a run exactly one wins (SQLite and PostgreSQL alike).
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from server.db.base import utcnow
from server.db.models import Run

HANDOFF = "handoff:"


@dataclass(frozen=True)
class Claim:
    """A won lease; ``kind``: "fresh" (the run was queued: first start, retry or resume),
    "handoff" (the next time slice) or "takeover" (the previous owner stopped beating)."""

    run_id: int
    owner: str
    attempt: int
    kind: str

    @property
    def fresh(self) -> bool:
        """True when the run starts (again) from the queue."""
        return self.kind == "fresh"


def new_owner_id() -> str:
    """A worker id that is unique per task execution: host, pid and a random suffix."""
    return f"{socket.gethostname()[:120]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def new_token() -> str:
    """A fresh handover token."""
    return uuid.uuid4().hex


def _claim_kind(row: Any, token: str | None, max_attempts: int) -> str | None:
    """How a task may claim a run in the state ``row``; None when it may not."""
    if row.status == "queued":
        return "fresh"
    if row.status != "running" or row.lease_owner is None:
        return None
    if row.lease_owner.startswith(HANDOFF):
        return "handoff" if token and row.lease_owner == HANDOFF + token else None
    expired = row.lease_expires_at is None or row.lease_expires_at < utcnow()
    return "takeover" if expired and row.attempt_count < max_attempts else None


def claim(
    session: Session,
    run_id: int,
    owner: str,
    token: str | None,
    lease_s: float,
    max_attempts: int,
    device: str | None = None,
) -> Claim | None:
    """Take the run's lease (queued, handed over to ``token``, or expired); None if not free.

    A queued run or an expired lease counts one more attempt; a handover does not.
    """
    columns = (Run.status, Run.lease_owner, Run.lease_expires_at, Run.attempt_count, Run.external)
    row = session.execute(select(*columns).where(Run.id == run_id)).one_or_none()
    # external runs (tracking API) are fed by their own client: no worker ever takes one
    kind = None if row is None or row.external else _claim_kind(row, token, max_attempts)
    if row is None or kind is None:
        session.rollback()
        return None
    now = utcnow()
    attempt = row.attempt_count + (0 if kind == "handoff" else 1)
    values: dict[str, Any] = {
        "status": "running",
        "lease_owner": owner,
        "lease_expires_at": now + timedelta(seconds=lease_s),
        "heartbeat_at": now,
        "attempt_count": attempt,
    }
    if device is not None:
        values["device"] = device
    if kind == "fresh":
        values.update(started_at=now, finished_at=None, error=None)
    result = session.execute(
        update(Run)
        .where(
            Run.id == run_id,
            Run.status == row.status,
            Run.lease_owner.is_not_distinct_from(row.lease_owner),
            Run.attempt_count == row.attempt_count,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        return None
    session.commit()
    return Claim(run_id, owner, attempt, kind)


def touch(
    session: Session, run_id: int, owner: str, lease_s: float | None = None, **values: Any
) -> bool:
    """Fence: update the run (heartbeat, progress, ...) only while ``owner`` holds the lease.

    Does not commit, so that the caller's other writes share the transaction and are dropped
    (rolled back) when the lease was lost. Returns whether the lease is still held.
    """
    now = utcnow()
    values["heartbeat_at"] = now
    if lease_s is not None:
        values["lease_expires_at"] = now + timedelta(seconds=lease_s)
    result = session.execute(
        update(Run)
        .where(Run.id == run_id, Run.lease_owner == owner, Run.status == "running")
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class LeaseState:
    """The outcome of a heartbeat."""

    held: bool
    cancel_requested: bool


def renew(session: Session, run_id: int, owner: str, lease_s: float) -> LeaseState:
    """Extend the lease and read the cancel flag (one short transaction)."""
    held = touch(session, run_id, owner, lease_s)
    cancel = session.scalar(select(Run.cancel_requested).where(Run.id == run_id))
    session.commit()
    return LeaseState(held, bool(cancel))


def hand_over(session: Session, run_id: int, owner: str, count_attempt: bool = False) -> str | None:
    """Release the lease to a new token (the next task's ticket); None if no longer held."""
    token = new_token()
    values: dict[str, Any] = {"lease_owner": HANDOFF + token, "lease_expires_at": None}
    if count_attempt:
        values["attempt_count"] = Run.attempt_count + 1
    if not touch(session, run_id, owner, **values):
        session.rollback()
        return None
    session.commit()
    return token
