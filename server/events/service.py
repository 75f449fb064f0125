"""Change notices: rows in `events` that SSE streams and the polling endpoints read."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db.models import Event

MAX_BATCH = 500


def publish(session: Session, project_id: int, run_id: int | None, kind: str, **data: Any) -> Event:
    """Add a change notice to the session (it becomes visible when the caller commits)."""
    event = Event(project_id=project_id, run_id=run_id, kind=kind, data=data)
    session.add(event)
    return event


def publish_scan(session: Session, project_id: int, scan_id: int, kind: str, **data: Any) -> Event:
    """Add a sensitivity scan's change notice (``scan.*``; the data carry the scan id too)."""
    event = Event(
        project_id=project_id,
        run_id=None,
        scan_id=scan_id,
        kind=kind,
        data={"scan_id": scan_id, **data},
    )
    session.add(event)
    return event


def events_after(
    session: Session,
    after: int,
    *,
    project_id: int | None = None,
    run_id: int | None = None,
    scan_id: int | None = None,
    limit: int = MAX_BATCH,
) -> list[Event]:
    """Notices with id > after for a project, a run or a scan, oldest first (a project's own
    stream leaves its scans' notices out: they belong to the scan pages)."""
    query = select(Event).where(Event.id > after)
    if project_id is not None:
        query = query.where(Event.project_id == project_id)
    if run_id is not None:
        query = query.where(Event.run_id == run_id)
    query = query.where(Event.scan_id.is_(None) if scan_id is None else Event.scan_id == scan_id)
    return list(session.scalars(query.order_by(Event.id).limit(min(limit, MAX_BATCH))))


def event_json(event: Event) -> dict[str, Any]:
    """A notice as the API shows it."""
    return {
        "id": event.id,
        "project_id": event.project_id,
        "run_id": event.run_id,
        "kind": event.kind,
        "data": event.data or {},
        "created_at": event.created_at.isoformat(),
    }
