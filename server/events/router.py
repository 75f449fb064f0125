"""Change streams: server-sent events of a run, a project or a sensitivity scan, and a JSON
polling fallback."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Header, Query, Request
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from server.auth.deps import CurrentUser, DbSession
from server.db.models import Event, Run, User
from server.errors import ApiError
from server.events.service import event_json, events_after
from server.params import INT64_MAX, CursorQuery, IdPath
from server.projects.service import require_role, role_in
from server.runs.service import get_run
from server.sensitivity.service import get_scan

router = APIRouter(tags=["events"])
After = Annotated[
    int | None, Query(ge=0, le=INT64_MAX, description="last event id seen (default: now)")
]
LastEventId = Annotated[str | None, Header(alias="Last-Event-ID")]
MaxEvents = Annotated[int | None, Query(ge=1, le=100_000, description="close after N events")]


def _start_after(session: Session, after: int | None, last_event_id: str | None) -> int:
    """Where a stream starts: Last-Event-ID (a reconnect), else `after`, else the newest id."""
    if last_event_id:
        if not last_event_id.isdigit() or int(last_event_id) > INT64_MAX:
            raise ApiError(422, "Last-Event-ID: must be an event id", field="Last-Event-ID")
        return int(last_event_id)
    if after is not None:
        return after
    newest = session.scalar(select(func.max(Event.id)))
    return int(newest or 0)


def _stream(
    request: Request,
    user_id: int,
    project_id: int,
    run_id: int | None,
    after: int,
    max_events: int | None,
    scan_id: int | None = None,
) -> EventSourceResponse:
    factory: sessionmaker[Session] = request.app.state.session_factory
    settings = request.app.state.settings

    def poll(last: int) -> list[Event] | None:
        with factory() as session:
            user = session.get(User, user_id)
            if user is None or not user.is_active or role_in(session, user, project_id) is None:
                return None  # access revoked while streaming: end the stream
            return events_after(
                session, last, project_id=project_id, run_id=run_id, scan_id=scan_id
            )

    async def generate() -> AsyncIterator[ServerSentEvent]:
        last, sent = after, 0
        while True:
            batch = await run_in_threadpool(poll, last)
            if batch is None:
                return
            for event in batch:
                last, sent = event.id, sent + 1
                yield ServerSentEvent(
                    data=json.dumps(event_json(event)), id=str(event.id), event=event.kind
                )
                if (max_events and sent >= max_events) or (event.kind == "run.deleted" and run_id):
                    return
            await anyio.sleep(settings.events_poll_s)

    return EventSourceResponse(generate(), ping=settings.events_ping_s)


def _changes(session: Session, after: int, **scope: Any) -> dict[str, Any]:
    events = events_after(session, after, **scope)
    return {"events": [event_json(e) for e in events], "cursor": events[-1].id if events else after}


@router.get("/runs/{run_id}/events", response_class=EventSourceResponse)
def run_events(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    run_id: IdPath,
    after: After = None,
    last_event_id: LastEventId = None,
    max_events: MaxEvents = None,
) -> EventSourceResponse:
    """Server-sent events of one run's changes (resumes from Last-Event-ID)."""
    run = get_run(session, user, run_id)
    start = _start_after(session, after, last_event_id)
    return _stream(request, user.id, run.project_id, run.id, start, max_events)


@router.get("/projects/{project_id}/events", response_class=EventSourceResponse)
def project_events(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    project_id: IdPath,
    after: After = None,
    last_event_id: LastEventId = None,
    max_events: MaxEvents = None,
) -> EventSourceResponse:
    """Server-sent events of a project's run list (resumes from Last-Event-ID)."""
    require_role(session, user, project_id, "viewer")
    start = _start_after(session, after, last_event_id)
    return _stream(request, user.id, project_id, None, start, max_events)


@router.get("/runs/{run_id}/changes")
def run_changes(
    session: DbSession, user: CurrentUser, run_id: IdPath, after: CursorQuery = 0
) -> dict[str, Any]:
    """Polling fallback: a run's change notices after `after` (pass back `cursor`)."""
    run: Run = get_run(session, user, run_id)
    return _changes(session, after, project_id=run.project_id, run_id=run.id)


@router.get("/projects/{project_id}/changes")
def project_changes(
    session: DbSession,
    user: CurrentUser,
    project_id: IdPath,
    after: CursorQuery = 0,
) -> dict[str, Any]:
    """Polling fallback: a project's change notices after `after` (pass back `cursor`)."""
    require_role(session, user, project_id, "viewer")
    return _changes(session, after, project_id=project_id)


@router.get("/sensitivity/{scan_id}/events", response_class=EventSourceResponse)
def scan_events(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    scan_id: IdPath,
    after: After = None,
    last_event_id: LastEventId = None,
    max_events: MaxEvents = None,
) -> EventSourceResponse:
    """Server-sent events of one sensitivity scan: points merged, status changes."""
    scan = get_scan(session, user, scan_id)
    start = _start_after(session, after, last_event_id)
    return _stream(request, user.id, scan.project_id, None, start, max_events, scan.id)


@router.get("/sensitivity/{scan_id}/changes")
def scan_changes(
    session: DbSession, user: CurrentUser, scan_id: IdPath, after: CursorQuery = 0
) -> dict[str, Any]:
    """Polling fallback: a scan's change notices after `after` (pass back `cursor`)."""
    scan = get_scan(session, user, scan_id)
    return _changes(session, after, project_id=scan.project_id, scan_id=scan.id)
