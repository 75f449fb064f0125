"""Sensitivity scans: creation from a run stage / artifact / recipe, scoped lookup, points,
cancel and resume. The rows are the source of truth; the workers merge points by key."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.db.base import utcnow
from server.db.models import Artifact, Membership, Run, Stage, User
from server.db.sensitivity_models import SensitivityPoint, SensitivityScan
from server.errors import ApiError, field_errors, not_found
from server.events.service import publish_scan
from server.projects.service import check_rank, member_project_ids, require_role
from server.runs.service import ARTIFACT_SCHEME, check_init_checkpoint, validate_recipe
from server.sensitivity.results import POINT_FIELDS, point_dict, result
from server.sensitivity.schemas import ScanCreate
from winoprune.training.sensitivity import DEFAULT_GRID, ScanSpec

LOC = ("body",)
__all__ = ["POINT_FIELDS", "point_dict", "result"]


def _source(session: Session, user: User, body: ScanCreate) -> dict[str, Any]:
    """Project, recipe and weights of the scan's source; 404/403/422 as for runs."""
    if body.source == "run":
        if body.run_id is None or body.stage is None:
            raise field_errors([{"loc": "run_id", "msg": "run source needs run_id and stage"}], LOC)
        run = _scoped_run(session, user, body.run_id)
        stage = session.scalar(
            select(Stage).where(Stage.run_id == run.id, Stage.index == body.stage)
        )
        key = stage.checkpoint if stage is not None else None
        artifact = None if key is None else session.scalar(
            select(Artifact).where(Artifact.run_id == run.id, Artifact.path == key)
        )  # fmt: skip
        if artifact is None:
            msg = f"run {run.id} has no final checkpoint of stage {body.stage}"
            raise field_errors([{"loc": "stage", "msg": msg}], LOC)
        if body.project is not None and body.project != run.project_id:
            raise field_errors([{"loc": "project", "msg": "must be the run's project"}], LOC)
        recipe = validate_recipe(run.recipe, ("body", "run_id"))
        return {"project": run.project_id, "recipe": recipe, "artifact": artifact.id, "run": run.id}
    if body.project is None:
        raise field_errors([{"loc": "project", "msg": f"required for source {body.source}"}], LOC)
    require_role(session, user, body.project, "editor")
    if body.recipe is None:
        raise field_errors([{"loc": "recipe", "msg": f"required for source {body.source}"}], LOC)
    recipe = validate_recipe(body.recipe, ("body", "recipe"))
    artifact_id = body.artifact_id
    if body.source == "recipe":
        check_init_checkpoint(session, recipe, body.project)
        init = recipe.init_checkpoint
        artifact_id = int(init[len(ARTIFACT_SCHEME) :]) if init else None
    else:
        artifact = session.get(Artifact, body.artifact_id) if body.artifact_id is not None else None
        if artifact is None or artifact.project_id != body.project:
            msg = "must be an artifact of this project"
            raise field_errors([{"loc": "artifact_id", "msg": msg}], LOC)
        if artifact.kind not in ("pretrained", "checkpoint"):
            msg = f"artifact {artifact.id} is a {artifact.kind}, not weights"
            raise field_errors([{"loc": "artifact_id", "msg": msg}], LOC)
    return {"project": body.project, "recipe": recipe, "artifact": artifact_id, "run": None}


def _scoped_run(session: Session, user: User, run_id: int) -> Run:
    run = session.get(Run, run_id)
    if run is None:
        raise not_found("run")
    require_role(session, user, run.project_id, "editor", what="run")
    return run


def create_scan(session: Session, user: User, body: ScanCreate) -> SensitivityScan:
    """Validate and store a queued scan (editors of the source's project)."""
    source = _source(session, user, body)
    recipe = source["recipe"]
    try:
        spec = ScanSpec(
            method=body.method,
            grid=tuple(body.grid) if body.grid is not None else DEFAULT_GRID,
            val_size=body.val_size,
            retrain_steps=body.retrain_steps,
            retrain_lr=body.retrain_lr,
            batch_size=recipe.eval_batch_size,
            seed=recipe.seed,
        )
    except ValueError as exc:
        field, _, msg = str(exc).partition(": ")
        raise field_errors([{"loc": field, "msg": msg}], LOC) from None
    scan = SensitivityScan(
        project_id=source["project"],
        created_by_id=user.id,
        name=body.name or f"{recipe.name}-sensitivity",
        recipe=recipe.model_dump(mode="json"),
        source=body.source,
        run_id=source["run"],
        stage=body.stage if body.source == "run" else None,
        artifact_id=source["artifact"],
        method=body.method,
        options=spec.to_dict(),
        chunk_size=body.chunk_size,
        status="queued",
        cancel_requested=False,
    )
    session.add(scan)
    session.commit()
    return scan


def get_scan(
    session: Session, user: User, scan_id: int, minimum: str = "viewer"
) -> SensitivityScan:
    """A scan the user may access with at least ``minimum``; 404 for outsiders."""
    member = (Membership.project_id == SensitivityScan.project_id) & (Membership.user_id == user.id)
    row = session.execute(
        select(SensitivityScan, Membership.role)
        .join(Membership, member)
        .where(SensitivityScan.id == scan_id)
    ).first()
    if row is None:
        raise not_found("scan")
    check_rank(row[1], minimum)
    return row[0]


def list_scans(
    session: Session, user: User, project: int | None, run_id: int | None, limit: int
) -> list[SensitivityScan]:
    """The caller's scans, newest first (all their projects, or one; optionally of one run)."""
    query = select(SensitivityScan).where(SensitivityScan.project_id.in_(member_project_ids(user)))
    if project is not None:
        query = query.where(SensitivityScan.project_id == project)
    if run_id is not None:
        query = query.where(SensitivityScan.run_id == run_id)
    return list(session.scalars(query.order_by(SensitivityScan.id.desc()).limit(limit)))


def points_done(session: Session, scan_ids: list[int]) -> dict[int, int]:
    """{scan id: number of points stored}."""
    rows = session.execute(
        select(SensitivityPoint.scan_id, func.count())
        .where(SensitivityPoint.scan_id.in_(scan_ids))
        .group_by(SensitivityPoint.scan_id)
    ).all()
    return {int(s): int(n) for s, n in rows}


def points(
    session: Session, scan: SensitivityScan, after: int, limit: int
) -> list[SensitivityPoint]:
    """Points with id > ``after``, oldest first."""
    return list(
        session.scalars(
            select(SensitivityPoint)
            .where(SensitivityPoint.scan_id == scan.id, SensitivityPoint.id > after)
            .order_by(SensitivityPoint.id)
            .limit(limit)
        )
    )


def cancel_scan(session: Session, scan: SensitivityScan) -> SensitivityScan:
    """A queued scan is cancelled at once; a running one stops between points."""
    if scan.status in ("succeeded", "failed", "cancelled"):
        raise ApiError(409, f"status: the scan is already {scan.status}", field="status")
    scan.cancel_requested = True
    if scan.status == "queued":
        scan.status, scan.finished_at, scan.error = "cancelled", utcnow(), "cancelled on request"
    kind = "scan.finished" if scan.status == "cancelled" else "scan.updated"
    publish_scan(session, scan.project_id, scan.id, kind, status=scan.status, cancel_requested=True)
    session.commit()
    return scan


def resume_scan(session: Session, scan: SensitivityScan) -> SensitivityScan:
    """Queue a failed, cancelled or stalled scan again: only its missing points are computed;
    a person's resume gives the sweeper's give-up count a fresh start."""
    if scan.status == "succeeded":
        raise ApiError(409, "status: the scan has succeeded", field="status")
    scan.status, scan.cancel_requested, scan.error, scan.finished_at = "queued", False, None, None
    scan.attempt_count, scan.heartbeat_at = 0, None
    publish_scan(session, scan.project_id, scan.id, "scan.updated", status="queued")
    session.commit()
    return scan
