"""The stage rows of a run that ended early: the true state of each stage.

The stage that was running stops (failed or cancelled) with its finish time and the time it
ran; stages that never started keep no times (a failed run skips them, a cancelled run cancels
them), so the run page shows neither a "running" duration nor a "Finished" time for them.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db.base import utcnow
from server.db.models import Stage

# run outcome -> {stage status before: stage status after}
STAGE_OUTCOMES = {
    "failed": {"running": "failed", "queued": "skipped"},
    "cancelled": {"running": "cancelled", "queued": "cancelled"},
}


def settle_stages(session: Session, run_id: int, status: str) -> None:
    """Give the unfinished stages of ``run_id`` their state after the run ended as ``status``
    (the caller commits)."""
    outcomes = STAGE_OUTCOMES.get(status, {})
    if not outcomes:
        return
    now = utcnow()
    stages = session.scalars(
        select(Stage).where(Stage.run_id == run_id, Stage.status.in_(list(outcomes)))
    )
    for stage in stages:
        ran = stage.status == "running"
        stage.status = outcomes[stage.status]
        if ran:
            stage.finished_at = now
            if stage.started_at is not None:
                stage.duration_s = (now - stage.started_at).total_seconds()
        else:  # never started (or reset for a retry): no times
            stage.started_at = stage.finished_at = stage.duration_s = None
    session.flush()
