"""Queue position and ETA of runs: the position among all queued runs (workers take them in
submission order), and the time left from the measured epoch time (``runs.system.epoch_s``,
written by the worker; a queued run borrows the latest measured figure of a run of the same
model and data set in its project) times the epochs left."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from server.db.models import Run

ACTIVE = ("queued", "running")


def stage_epochs(recipe: dict[str, Any]) -> dict[int, int]:
    """{stage index: epochs} of a stored recipe (-1: pretraining when present)."""
    epochs = {i: int(s.get("epochs") or 0) for i, s in enumerate(recipe.get("stages") or [])}
    pretrain = recipe.get("pretrain")
    if pretrain:
        epochs[-1] = int(pretrain.get("epochs") or 0)
    return epochs


def epochs_left(run: Any) -> int:
    """Training epochs the run still has to do (all of them when it has not started)."""
    epochs = stage_epochs(run.recipe)
    if run.status == "queued" and run.progress_stage is None:
        return sum(epochs.values())
    stage = run.progress_stage if run.progress_stage is not None else min(epochs, default=0)
    done = run.progress_epoch or 0
    here = max(epochs.get(stage, 0) - done, 0)
    return here + sum(n for index, n in epochs.items() if index > stage)


def measured_epoch_s(session: Session, run: Any) -> float | None:
    """The run's mean epoch time, else that of the latest similar run that measured one."""
    own = (run.system or {}).get("epoch_s")
    if own:
        return float(own)
    rows = session.scalars(
        select(Run.system)
        .where(
            Run.project_id == run.project_id,
            Run.model_name == run.model_name,
            Run.dataset_name == run.dataset_name,
            Run.id != run.id,
            Run.system.is_not(None),
        )
        .order_by(Run.updated_at.desc())
        .limit(20)
    )
    for system in rows:
        if system and system.get("epoch_s"):
            return float(system["epoch_s"])
    return None


def queue_position(session: Session, run: Any) -> int | None:
    """1 for the next queued run to start; None unless queued."""
    if run.status != "queued":
        return None
    ahead = session.scalar(
        select(func.count())
        .select_from(Run)
        .where(
            Run.status == "queued",
            or_(
                Run.created_at < run.created_at,
                and_(Run.created_at == run.created_at, Run.id < run.id),
            ),
        )
    )
    return int(ahead or 0) + 1


def queue_info(session: Session, run: Any) -> dict[str, Any]:
    """{queue_position, eta_s, epoch_s} of one run (nulls when not known or not active)."""
    if run.status not in ACTIVE:
        return {"queue_position": None, "eta_s": None, "epoch_s": None}
    epoch_s = measured_epoch_s(session, run)
    left = epochs_left(run)
    return {
        "queue_position": queue_position(session, run),
        "eta_s": None if epoch_s is None else round(left * epoch_s, 1),
        "epoch_s": epoch_s,
    }


def project_queue(session: Session, project_id: int) -> list[dict[str, Any]]:
    """Queue info of the project's queued and running runs."""
    runs = session.scalars(
        select(Run).where(Run.project_id == project_id, Run.status.in_(ACTIVE)).order_by(Run.id)
    )
    return [{"id": r.id, "status": r.status, **queue_info(session, r)} for r in runs]
