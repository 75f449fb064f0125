"""State changes requested by users: cancel, retry, resume from a stage."""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.orm import Session

from server.db.base import utcnow
from server.db.models import TERMINAL_STATES, LayerStat, Metric, Run
from server.errors import ApiError
from server.events.service import publish
from server.runs.summary import refresh_latest_totals

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


def refuse_external(run: Run) -> None:
    """409 for external runs (tracking API): their client feeds them, never a worker."""
    if run.external:
        raise ApiError(
            409,
            "external: an external run is fed by its own client, not by workers",
            field="external",
        )


def retry_run(session: Session, run: Run, mode: str = "continue") -> Run:
    """Failed/cancelled -> queued from the first stage that has not succeeded.

    ``mode`` "continue": the worker resumes from the latest checkpoint (mid-stage, epochs
    already trained and their results kept); "restart": the unfinished stage starts again
    from epoch 0 (its checkpoints and results are dropped). `attempt_count` is kept: it counts
    every time a worker started the run.
    """
    refuse_external(run)
    if run.status not in RESTARTABLE:
        raise ApiError(
            409,
            f"status: only failed or cancelled runs can be retried, not {run.status}",
            field="status",
        )
    pending = [s.index for s in run.stages if s.status != "succeeded"]
    start = min(pending) if pending else max((s.index for s in run.stages), default=0)
    if mode == "continue":
        return _requeue(session, run, start, "run.retried", keep_stage=True)
    return _requeue(session, run, start, "run.retried")


def resume_run(session: Session, run: Run, stage_index: int) -> Run:
    """Re-run from `stage_index` on: later stages and their results are reset."""
    refuse_external(run)
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


def set_archived(session: Session, run: Run, archived: bool) -> None:
    """Archive (hidden from run lists unless asked for) or bring back a run."""
    if archived and run.status in ("queued", "running"):
        raise ApiError(409, f"archived: a {run.status} run cannot be archived", field="archived")
    run.archived_at = (run.archived_at or utcnow()) if archived else None
    publish(session, run.project_id, run.id, "run.archived", archived=archived)
    session.flush()


def _requeue(session: Session, run: Run, start: int, kind: str, keep_stage: bool = False) -> Run:
    """Queue ``run`` from stage ``start``; ``keep_stage``: stage ``start`` continues from its
    latest checkpoint (its start time, epochs and checkpoints stay), else it starts over."""
    for stage in run.stages:
        if stage.index >= start:
            continuing = keep_stage and stage.index == start
            stage.status = "queued"
            stage.checkpoint = None
            if not continuing:
                stage.started_at = None
            stage.finished_at = None
            stage.duration_s = stage.sparsity = stage.accuracy = None
    # Results of the stages that run again are rewritten; drop the old ones.
    first_dropped = start + 1 if keep_stage else start
    session.execute(delete(Metric).where(Metric.run_id == run.id, Metric.stage >= first_dropped))
    refresh_latest_totals(session, run.id)  # the run list's mult_reduction
    session.execute(
        delete(LayerStat).where(LayerStat.run_id == run.id, LayerStat.stage >= first_dropped)
    )
    run.status = "queued"
    run.error = None
    run.cancel_requested = False
    run.finished_at = None
    run.lease_owner = None
    run.lease_expires_at = None
    run.progress_stage = start
    run.progress_epoch = None
    # the worker drops the checkpoints of stages >= restart_from before it trains
    run.restart_from = None if keep_stage else start
    mode = "continue" if keep_stage else "restart"
    publish(session, run.project_id, run.id, kind, status=run.status, stage=start, mode=mode)
    session.commit()
    return run
