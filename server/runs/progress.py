"""Worker-side writes: claim a run, heartbeat, stage rows, metrics, layer rows, finish.

Every function takes a Session, commits its own short transaction, publishes a change notice,
and is idempotent (metrics and layer rows are upserts on their unique keys), so a stage that
runs twice rewrites the same rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Table, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from server.artifacts.storage import file_digest, relative_key
from server.config import Settings
from server.db.base import utcnow
from server.db.models import TERMINAL_STATES, Artifact, LayerStat, Metric, Run, Stage
from server.events.service import publish
from server.runs.summary import refresh_summary

DEFAULT_LEASE_S = 300.0
LAYER_FIELDS = ("layer", "domain", "numel", "nnz", "sparsity", "multiplications")
# the layer's direct cost, Winograd-ReLU layers' activation counts (pruning.activations), and
# additions and energy per image (pruning.operations); NULL when a row leaves them out
OPTIONAL_LAYER_FIELDS = (
    "mult_direct", "activation_density", "mult_activation_sparse", "additions", "energy_pj",
)  # fmt: skip


@dataclass(frozen=True)
class Heartbeat:
    """What the worker must do after a heartbeat: stop when cancelled or the lease is lost."""

    cancel_requested: bool
    lease_lost: bool


def upsert(session: Session, table: Table, rows: list[dict[str, Any]], keys: list[str]) -> None:
    """INSERT ... ON CONFLICT (keys) DO UPDATE on SQLite and PostgreSQL."""
    if not rows:
        return
    dialect = sqlite if session.get_bind().dialect.name == "sqlite" else postgresql
    statement = dialect.insert(table).values(rows)
    changing = [c for c in rows[0] if c not in keys]
    statement = statement.on_conflict_do_update(
        index_elements=keys, set_={c: statement.excluded[c] for c in changing}
    )
    session.execute(statement)


def _run(session: Session, run_id: int) -> Run:
    run = session.get(Run, run_id)
    if run is None:
        raise ValueError(f"run_id: no run {run_id}")
    return run


def claim_run(
    session: Session,
    run_id: int,
    worker_id: str,
    lease_s: float = DEFAULT_LEASE_S,
    device: str | None = None,
) -> Run | None:
    """Atomically start a queued run (or take over one whose lease expired); None otherwise."""
    now = utcnow()
    claimable = or_(
        Run.status == "queued", (Run.status == "running") & (Run.lease_expires_at < now)
    )
    result = session.execute(
        update(Run)
        .where(Run.id == run_id, claimable, Run.external.is_(False))
        .values(
            status="running",
            attempt_count=Run.attempt_count + 1,
            lease_owner=worker_id,
            lease_expires_at=now + timedelta(seconds=lease_s),
            heartbeat_at=now,
            started_at=now,
            device=device,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        return None
    run = _run(session, run_id)
    session.refresh(run)
    publish(session, run.project_id, run.id, "run.started", status="running", worker=worker_id)
    session.commit()
    return run


def heartbeat(
    session: Session,
    run_id: int,
    worker_id: str,
    lease_s: float = DEFAULT_LEASE_S,
    stage: int | None = None,
    epoch: int | None = None,
) -> Heartbeat:
    """Extend the lease and record progress; tells the worker whether to stop."""
    run = _run(session, run_id)
    if run.status != "running" or run.lease_owner != worker_id:
        return Heartbeat(cancel_requested=run.cancel_requested, lease_lost=True)
    now = utcnow()
    run.heartbeat_at = now
    run.lease_expires_at = now + timedelta(seconds=lease_s)
    moved = (stage, epoch) != (run.progress_stage, run.progress_epoch) and stage is not None
    if stage is not None:
        run.progress_stage, run.progress_epoch = stage, epoch
    if moved:
        publish(session, run.project_id, run.id, "run.progress", stage=stage, epoch=epoch)
    session.commit()
    return Heartbeat(cancel_requested=run.cancel_requested, lease_lost=False)


def _stage(session: Session, run_id: int, index: int) -> Stage:
    stage = session.scalar(select(Stage).where(Stage.run_id == run_id, Stage.index == index))
    if stage is None:
        raise ValueError(f"stage: run {run_id} has no stage {index}")
    return stage


def start_stage(session: Session, run_id: int, index: int) -> None:
    """Mark a stage running (again, when a stage is retried)."""
    stage, run = _stage(session, run_id, index), _run(session, run_id)
    stage.status, stage.started_at, stage.finished_at = "running", utcnow(), None
    run.progress_stage, run.progress_epoch = index, None
    publish(session, run.project_id, run_id, "stage.started", stage=index)
    session.commit()


def finish_stage(
    session: Session,
    run_id: int,
    index: int,
    status: str = "succeeded",
    checkpoint: str | None = None,
    sparsity: float | None = None,
    accuracy: float | None = None,
) -> None:
    """Record a stage's outcome, checkpoint key, achieved sparsity and accuracy."""
    stage, run = _stage(session, run_id, index), _run(session, run_id)
    now = utcnow()
    stage.status, stage.finished_at = status, now
    stage.checkpoint, stage.sparsity, stage.accuracy = checkpoint, sparsity, accuracy
    if stage.started_at is not None:
        stage.duration_s = (now - stage.started_at).total_seconds()
    publish(session, run.project_id, run_id, "stage.finished", stage=index, status=status)
    session.commit()


def record_metrics(
    session: Session, run_id: int, stage: int, epoch: int, values: Mapping[str, float | None]
) -> None:
    """Upsert scalar metrics of (stage, epoch)."""
    rows = [
        {"run_id": run_id, "stage": stage, "epoch": epoch, "key": key, "value": value}
        for key, value in values.items()
    ]
    upsert(session, Metric.__table__, rows, ["run_id", "stage", "epoch", "key"])  # type: ignore[arg-type]
    refresh_summary(session, run_id, [stage])  # the sortable final metrics (issue 15)
    run = _run(session, run_id)
    publish(session, run.project_id, run_id, "metrics", stage=stage, epoch=epoch)
    session.commit()


def record_layer_stats(
    session: Session, run_id: int, stage: int, epoch: int, rows: Iterable[Mapping[str, Any]]
) -> None:
    """Upsert per-layer rows {layer, domain, numel, nnz, sparsity, multiplications} and, where
    given, mult_direct, activation_density and mult_activation_sparse."""
    values = [
        {
            "run_id": run_id,
            "stage": stage,
            "epoch": epoch,
            **{f: row[f] for f in LAYER_FIELDS},
            **{f: row.get(f) for f in OPTIONAL_LAYER_FIELDS},
        }
        for row in rows
    ]
    keys = ["run_id", "stage", "epoch", "layer", "domain"]
    upsert(session, LayerStat.__table__, values, keys)  # type: ignore[arg-type]
    run = _run(session, run_id)
    publish(session, run.project_id, run_id, "layers", stage=stage, epoch=epoch)
    session.commit()


def register_checkpoint(
    session: Session,
    settings: Settings,
    run_id: int,
    path: Path,
    stage: int,
    meta: Mapping[str, Any] | None = None,
) -> Artifact:
    """Record a checkpoint file written under the artifacts root (same file twice = one row)."""
    run = _run(session, run_id)
    key = relative_key(settings, path)
    size, digest = file_digest(path)
    artifact = session.scalar(
        select(Artifact).where(Artifact.run_id == run_id, Artifact.path == key)
    )
    if artifact is None:
        artifact = Artifact(
            project_id=run.project_id,
            run_id=run_id,
            kind="checkpoint",
            path=key,
            created_by_id=run.created_by_id,
        )
        session.add(artifact)
    artifact.name, artifact.size, artifact.sha256 = path.name, size, digest
    artifact.model_name, artifact.meta = run.model_name, {"stage": stage, **(meta or {})}
    session.flush()
    publish(session, run.project_id, run_id, "artifact.created", artifact_id=artifact.id)
    session.commit()
    return artifact


def finish_run(session: Session, run_id: int, status: str, error: str | None = None) -> None:
    """End a run as succeeded, failed or cancelled and release its lease."""
    if status not in TERMINAL_STATES:
        raise ValueError(f"status: must be one of {TERMINAL_STATES}, got {status!r}")
    run = _run(session, run_id)
    run.status, run.error, run.finished_at = status, error, utcnow()
    run.lease_owner = run.lease_expires_at = None
    publish(session, run.project_id, run_id, "run.finished", status=status)
    session.commit()


def expired_leases(session: Session) -> list[int]:
    """Ids of running runs whose worker stopped heart-beating (to hand out again)."""
    query = select(Run.id).where(Run.status == "running", Run.lease_expires_at < utcnow())
    return list(session.scalars(query))
