"""Speed measurements of a run's exports: store one (editors; the same weights, batch, threads
and machine again update the stored row) and list them (viewers), newest first."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.db.models import User
from server.db.speed_models import SpeedMeasurement
from server.events.service import publish
from server.runs.service import get_run, require_run
from server.speed.schemas import SpeedCreate

KEY = ("weights_sha256", "batch", "threads", "machine")
EVENT = "speed.measured"


def _stored(session: Session, run_id: int, body: SpeedCreate) -> SpeedMeasurement | None:
    where = [getattr(SpeedMeasurement, name) == getattr(body, name) for name in KEY]
    return session.scalar(select(SpeedMeasurement).where(SpeedMeasurement.run_id == run_id, *where))


def _fill(row: SpeedMeasurement, body: SpeedCreate, user: User) -> None:
    for name, value in body.model_dump().items():
        setattr(row, name, value)
    row.created_by_id = user.id


def store_measurement(
    session: Session, user: User, run_id: int, body: SpeedCreate
) -> tuple[SpeedMeasurement, bool]:
    """(row, created): a new row, or the stored one with the same key, updated unless the
    body's measurement is older than the stored one (a retried publish changes nothing)."""
    run = get_run(session, user, run_id, "editor")
    row = _stored(session, run.id, body)
    created = row is None
    if row is None:
        row = SpeedMeasurement(run_id=run.id)
        _fill(row, body, user)
        session.add(row)
        try:
            session.flush()
        except IntegrityError:  # a concurrent publish of the same key won the race
            session.rollback()
            row, created = _stored(session, run.id, body), False
            if row is None:
                raise
    if not created and body.measured_at >= row.measured_at:
        _fill(row, body, user)
    publish(session, run.project_id, run.id, EVENT, speedup=row.speedup, batch=row.batch)
    session.commit()
    return row, created


def list_measurements(session: Session, user: User, run_id: int) -> list[SpeedMeasurement]:
    """A run's measurements, newest first (viewers)."""
    require_run(session, user, run_id)
    query = (
        select(SpeedMeasurement)
        .where(SpeedMeasurement.run_id == run_id)
        .order_by(SpeedMeasurement.measured_at.desc(), SpeedMeasurement.id.desc())
    )
    return list(session.scalars(query))
