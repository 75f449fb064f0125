"""External runs: creation (recipe validated as for queued runs, or a description), lookup for
the tracking routes, checkpoint uploads (safetensors, validated as uploads are), the finish."""

from __future__ import annotations

import hashlib
import json
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.artifacts import storage
from server.artifacts.validation import read_shapes
from server.config import Settings
from server.db.base import utcnow
from server.db.models import TERMINAL_STATES, Artifact, Run, RunTag, Stage, User
from server.errors import ApiError
from server.events.service import publish
from server.projects.service import require_role
from server.runs.service import get_run, new_run, validate_recipe
from server.tracking.schemas import ExternalRunCreate, FinishBody

UNKNOWN = "unknown"


def _description_sha(body: ExternalRunCreate) -> str:
    what = {k: getattr(body, k) for k in ("name", "method", "model", "dataset", "description")}
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()


def _build(user: User, body: ExternalRunCreate) -> Run:
    if body.recipe is not None:
        recipe = validate_recipe(body.recipe)
        run = new_run(body.project, user, recipe, body.tags, body.notes)
        if body.name is not None:
            run.name = body.name
    else:
        run = Run(
            project_id=body.project,
            created_by_id=user.id,
            name=body.name,
            recipe={},
            recipe_sha256=_description_sha(body),
            method=body.method or "external",
            model_name=body.model or UNKNOWN,
            dataset_name=body.dataset or UNKNOWN,
            notes=body.notes,
            tag_rows=[RunTag(tag=t) for t in sorted(set(body.tags))],
        )
    now = utcnow()
    run.external, run.description, run.device = True, body.description, body.device
    run.status, run.started_at, run.attempt_count = "running", now, 1
    return run


def create_external_run(
    session: Session, user: User, body: ExternalRunCreate, idempotency_key: str | None
) -> tuple[Run, bool]:
    """Store a running external run (editors); (run, replayed by the Idempotency-Key)."""
    require_role(session, user, body.project, "editor")
    run = _build(user, body)
    if idempotency_key:
        earlier = _replay(session, user, idempotency_key, run)
        if earlier is not None:
            return earlier, True
    run.idempotency_key = idempotency_key
    session.add(run)
    try:
        session.flush()
    except IntegrityError:  # a concurrent request with the same key won the race
        session.rollback()
        earlier = _replay(session, user, idempotency_key or "", run)
        if earlier is None:
            raise
        return earlier, True
    publish(session, run.project_id, run.id, "run.created", status=run.status, external=True)
    session.commit()
    return run, False


def _replay(session: Session, user: User, key: str, run: Run) -> Run | None:
    earlier = session.scalar(
        select(Run).where(Run.created_by_id == user.id, Run.idempotency_key == key)
    )
    if earlier is None:
        return None
    if earlier.project_id != run.project_id or earlier.recipe_sha256 != run.recipe_sha256:
        raise ApiError(
            409, "Idempotency-Key: reused with a different request", field="Idempotency-Key"
        )
    return earlier


def external_run(session: Session, user: User, run_id: int) -> Run:
    """An external run the caller may feed (editors; 404 outsiders, 409 a worker's run)."""
    run = get_run(session, user, run_id, "editor")
    if not run.external:
        raise ApiError(
            409, "external: this run belongs to the workers; create an external run", "external"
        )
    return run


def store_checkpoint(
    session: Session,
    settings: Settings,
    run: Run,
    source: BinaryIO,
    name: str,
    stage: int,
    epoch: int,
    stage_done: bool,
) -> tuple[Artifact, bool]:
    """Keep a safetensors checkpoint of the run (never unpickled; the upload size limit);
    (artifact, replayed): the same file sent again returns the stored artifact."""
    target = storage.new_upload_path(settings, run.project_id)
    staging = target.with_suffix(".part")
    try:
        size, digest = storage.save_limited(source, staging, settings.max_upload_bytes)
        tensors = len(read_shapes(staging))
        earlier = session.scalar(
            select(Artifact).where(Artifact.run_id == run.id, Artifact.sha256 == digest)
        )
        if earlier is not None:
            return earlier, True
        storage.move_into_place(staging, target)
    finally:
        staging.unlink(missing_ok=True)
    artifact = Artifact(
        project_id=run.project_id,
        run_id=run.id,
        kind="checkpoint",
        name=name,
        path=storage.relative_key(settings, target),
        size=size,
        sha256=digest,
        model_name=run.model_name,
        meta={"stage": stage, "epoch": epoch, "stage_done": stage_done, "tensors": tensors},
        created_by_id=run.created_by_id,
    )
    session.add(artifact)
    if stage_done:
        row = session.scalar(select(Stage).where(Stage.run_id == run.id, Stage.index == stage))
        if row is not None:
            row.checkpoint = artifact.path
    session.flush()
    publish(
        session, run.project_id, run.id, "artifact.created", artifact_id=artifact.id, stage=stage
    )
    session.commit()
    return artifact, False


def finish_run(session: Session, run: Run, body: FinishBody) -> Run:
    """End the run; the same finish again is a no-op, another one 409."""
    if run.status in TERMINAL_STATES:
        if run.status == body.status:
            return run
        raise ApiError(409, f"status: the run is already {run.status}", field="status")
    now = utcnow()
    run.status, run.finished_at = body.status, now
    run.error = body.error if body.status != "succeeded" else None
    for stage in run.stages:
        if stage.status == "running":
            stage.status = "succeeded" if body.status == "succeeded" else body.status
            stage.finished_at = now
        elif stage.status == "queued":
            stage.status = "skipped"
    publish(session, run.project_id, run.id, "run.finished", status=run.status, error=run.error)
    session.commit()
    return run
