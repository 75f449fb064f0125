"""Queue endpoint: position and ETA of a project's queued and running runs (for run lists)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from server.auth.deps import CurrentUser, DbSession
from server.params import INT32_MAX
from server.projects.service import require_role
from server.runs.queue import project_queue
from server.runs.schemas import RunStatus

router = APIRouter(prefix="/queue", tags=["runs"])


class QueueItem(BaseModel):
    """Where an active run stands: its place in the queue and the time it still needs."""

    id: int
    status: RunStatus
    queue_position: int | None
    eta_s: float | None
    epoch_s: float | None


@router.get("", response_model=list[QueueItem])
def get_queue(
    session: DbSession,
    user: CurrentUser,
    project: Annotated[int, Query(ge=0, le=INT32_MAX)],
) -> list[QueueItem]:
    """Queue position (1 = next to start) and ETA of the project's queued and running runs."""
    require_role(session, user, project, "viewer")
    return [QueueItem(**item) for item in project_queue(session, project)]
