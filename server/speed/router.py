"""Speed routes: publish a benchmark of a run's export, list a run's measurements."""

from __future__ import annotations

from fastapi import APIRouter, Response

from server.auth.deps import CurrentUser, DbSession
from server.params import IdPath
from server.speed import service
from server.speed.schemas import SpeedCreate, SpeedOut

router = APIRouter(prefix="/runs", tags=["speed"])


@router.post("/{run_id}/speed", response_model=SpeedOut, status_code=201)
def post_speed(
    response: Response, session: DbSession, user: CurrentUser, run_id: IdPath, body: SpeedCreate
) -> SpeedOut:
    """Store a measured speed of the run's export (editors); the same weights, batch, threads
    and machine again answer 200 with the stored row (updated when the body is newer)."""
    row, created = service.store_measurement(session, user, run_id, body)
    if not created:
        response.status_code = 200
    return SpeedOut.model_validate(row)


@router.get("/{run_id}/speed", response_model=list[SpeedOut])
def list_speed(session: DbSession, user: CurrentUser, run_id: IdPath) -> list[SpeedOut]:
    """The run's measured speeds, newest first (viewers)."""
    return [
        SpeedOut.model_validate(row) for row in service.list_measurements(session, user, run_id)
    ]
