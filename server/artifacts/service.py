"""Artifacts: pretrained-weight uploads, listing, lookup with project scoping, deletion."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.artifacts import storage
from server.artifacts.validation import build_options, check_weights
from server.config import Settings
from server.db.models import Artifact, User
from server.errors import ApiError, not_found
from server.events.service import publish
from server.projects.service import require_role


def upload_pretrained(
    session: Session,
    settings: Settings,
    user: User,
    project_id: int,
    source: BinaryIO,
    name: str,
    model: str,
    width: float,
    num_classes: int | None,
    tile: str | None = None,
    input_layer: str | None = None,
) -> Artifact:
    """Store safetensors weights validated against `model` into a project (editors); a
    Winograd-ReLU model is built with `tile` and `input_layer` as a recipe would build it."""
    require_role(session, user, project_id, "editor")
    options = build_options(model, tile, input_layer)
    target = storage.new_upload_path(settings, project_id)
    staging = target.with_suffix(".part")
    try:
        size, digest = storage.save_limited(source, staging, settings.max_upload_bytes)
        tensors = check_weights(staging, model, width, num_classes, options)
        storage.move_into_place(staging, target)
    finally:
        staging.unlink(missing_ok=True)
    artifact = Artifact(
        project_id=project_id,
        kind="pretrained",
        name=name,
        path=storage.relative_key(settings, target),
        size=size,
        sha256=digest,
        model_name=model,
        meta={"width": width, "num_classes": num_classes, "tensors": tensors, **options},
        created_by_id=user.id,
    )
    session.add(artifact)
    session.flush()
    publish(session, project_id, None, "artifact.created", artifact_id=artifact.id)
    session.commit()
    return artifact


def list_artifacts(
    session: Session,
    project_id: int | None = None,
    run_id: int | None = None,
    kind: str | None = None,
) -> list[Artifact]:
    """Artifacts of a project or of a run, newest first."""
    query = select(Artifact)
    if project_id is not None:
        query = query.where(Artifact.project_id == project_id)
    if run_id is not None:
        query = query.where(Artifact.run_id == run_id)
    if kind is not None:
        query = query.where(Artifact.kind == kind)
    return list(session.scalars(query.order_by(Artifact.id.desc())))


def get_artifact(
    session: Session, user: User, artifact_id: int, minimum: str = "viewer"
) -> Artifact:
    """An artifact in one of the user's projects; 404 otherwise."""
    artifact = session.get(Artifact, artifact_id)
    if artifact is None:
        raise not_found("artifact")
    require_role(session, user, artifact.project_id, minimum, what="artifact")
    return artifact


def delete_artifact(session: Session, artifact: Artifact) -> Path | str:
    """Delete an uploaded artifact's row (run checkpoints go with their run); returns its key."""
    if artifact.run_id is not None:
        raise ApiError(409, "kind: run checkpoints are deleted with their run", field="kind")
    key = artifact.path
    publish(session, artifact.project_id, None, "artifact.deleted", artifact_id=artifact.id)
    session.delete(artifact)
    session.commit()
    return key
