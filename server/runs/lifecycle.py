"""State changes requested by users: cancel, retry, resume from a stage."""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.orm import Session

from server.db.base import utcnow
from server.db.models import TERMINAL_STATES, LayerStat, Metric, Run
from server.errors import ApiError
from server.events.service import publish

RESTARTABLE = ("failed", "cancelled")


def cancel_run(session: Session, run: Run) -> Run:
    """Queued runs are cancelled at once; running ones get a cooperative cancel request."""
    if run.status in TERMINAL_STATES:
        raise ApiError(409, f"status: the run is already {run.status}", field="status")
    if run.status == "queued":
        run.status = "cancelled"
        run.finished_at = utcnow()
        run.error = "cancelled before it started"
        for stage in run.stages:
            if stage.status == "queued":
                stage.status = "cancelled"
        publish(session, run.project_id, run.id, "run.cancelled", status=run.status)
    else:
        run.cancel_requested = True
        publish(session, run.project_id, run.id, "run.cancel_requested", status=run.status)
    session.commit()
    return run


def retry_run(session: Session, run: Run) -> Run:
    """Failed/cancelled -> queued from the first stage that has not succeeded.

    `attempt_count` is kept: it counts every time a worker started the run.
    """
    if run.status not in RESTARTABLE:
        raise ApiError(
            409,
            f"status: only failed or cancelled runs can be retried, not {run.status}",
            field="status",
        )
    pending = [s.index for s in run.stages if s.status != "succeeded"]
    start = min(pending) if pending else max((s.index for s in run.stages), default=0)
    return _requeue(session, run, start, "run.retried")


def resume_run(session: Session, run: Run, stage_index: int) -> Run:
    """Re-run from `stage_index` on: later stages and their results are reset."""
    if run.status not in (*RESTARTABLE, "succeeded"):
        raise ApiError(409, f"status: a {run.status} run cannot be resumed", field="status")
    indexes = [s.index for s in run.stages]
    if stage_index not in indexes:
        raise ApiError(422, f"stage: no stage {stage_index} (stages: {indexes})", field="stage")
    unfinished = [s.index for s in run.stages if s.index < stage_index and s.status != "succeeded"]
    if unfinished:
        raise ApiError(
            409, f"stage: earlier stage {unfinished[0]} has not succeeded", field="stage"
        )
    return _requeue(session, run, stage_index, "run.resumed")


def _requeue(session: Session, run: Run, start: int, kind: str) -> Run:
    for stage in run.stages:
        if stage.index >= start:
            stage.status = "queued"
            stage.checkpoint = None
            stage.started_at = stage.finished_at = None
            stage.duration_s = stage.sparsity = stage.accuracy = None
    # Results of the stages that run again are rewritten; drop the old ones.
    session.execute(delete(Metric).where(Metric.run_id == run.id, Metric.stage >= start))
    session.execute(delete(LayerStat).where(LayerStat.run_id == run.id, LayerStat.stage >= start))
    run.status = "queued"
    run.error = None
    run.cancel_requested = False
    run.finished_at = None
    run.lease_owner = None
    run.lease_expires_at = None
    run.progress_stage = start
    run.progress_epoch = None
    publish(session, run.project_id, run.id, kind, status=run.status, stage=start)
    session.commit()
    return run
