"""Run creation (recipe validation, idempotency), lookup, tags/notes, clone and delete."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.config import Settings
from server.db.models import PRETRAIN_STAGE, Artifact, Membership, Run, RunTag, Stage, User
from server.errors import ApiError, field_errors, not_found
from server.events.service import publish
from server.projects.service import ROLE_RANK, check_rank, require_role, token_project
from server.runs.capacity import check_runnable
from server.sensitivity.results import resolve_recipe_scan
from winoprune.recipes import Recipe, RecipeError, parse_recipe

ARTIFACT_SCHEME = "artifact:"
RECIPE_LOC = ("body", "recipe")


def validate_recipe(data: dict[str, Any] | str, loc: tuple[str, ...] = RECIPE_LOC) -> Recipe:
    """Parse a recipe; 422 whose `loc` is the field path inside the recipe."""
    try:
        return parse_recipe(data)
    except RecipeError as exc:
        raise field_errors(exc.errors, prefix=loc) from None


def check_init_checkpoint(
    session: Session, recipe: Recipe, project_id: int, loc: tuple[str, ...] = RECIPE_LOC
) -> None:
    """`init_checkpoint` must be "artifact:<id>" of weights in the same project (never a path)."""
    value = recipe.init_checkpoint
    if value is None:
        return
    problem = None
    if not value.startswith(ARTIFACT_SCHEME) or not value[len(ARTIFACT_SCHEME) :].isdigit():
        problem = "the service only accepts 'artifact:<id>' (upload the weights first)"
    else:
        artifact = session.get(Artifact, int(value[len(ARTIFACT_SCHEME) :]))
        if artifact is None or artifact.project_id != project_id:
            problem = f"{value} is not an artifact of this project"
        elif artifact.kind not in ("pretrained", "checkpoint"):
            problem = f"{value} is a {artifact.kind}, not weights"
    if problem:
        raise field_errors([{"loc": "init_checkpoint", "msg": problem}], prefix=loc)


def _stage_rows(recipe: Recipe) -> list[Stage]:
    rows = [Stage(index=PRETRAIN_STAGE, type="pretrain", target=None)] if recipe.pretrain else []
    rows += [Stage(index=i, type=s.type, target=s.target) for i, s in enumerate(recipe.stages)]
    return rows


def tile_label(tile: Any) -> str:
    """ "F(4,3)" for a tile name or a {m, r, ...} mapping."""
    return tile if isinstance(tile, str) else tile.name


def new_run(project_id: int, user: User, recipe: Recipe, tags: list[str], notes: str) -> Run:
    """A queued Run (not yet added) with its stage and tag rows."""
    return Run(
        project_id=project_id,
        created_by_id=user.id,
        name=recipe.name,
        recipe=recipe.model_dump(mode="json"),
        recipe_sha256=recipe.sha256(),
        method=recipe.method,
        model_name=recipe.model.name,
        dataset_name=recipe.data.name,
        tile=tile_label(recipe.tile),
        status="queued",
        notes=notes,
        stages=_stage_rows(recipe),
        tag_rows=[RunTag(tag=t) for t in sorted(set(tags))],
    )


def create_run(
    session: Session,
    user: User,
    project_id: int,
    recipe_data: dict[str, Any] | str,
    tags: list[str],
    notes: str,
    idempotency_key: str | None = None,
    recipe_loc: tuple[str, ...] = RECIPE_LOC,
    settings: Settings | None = None,
) -> tuple[Run, bool]:
    """Validate and store a queued run; returns (run, replayed) where replayed means the
    Idempotency-Key matched an earlier request of this user."""
    require_role(session, user, project_id, "editor")
    recipe = validate_recipe(recipe_data, recipe_loc)
    recipe = resolve_recipe_scan(session, recipe, project_id, recipe_loc)  # layers.scan: <id>
    check_init_checkpoint(session, recipe, project_id, recipe_loc)
    if settings is not None:  # a live worker must have the data folder and the device
        check_runnable(session, settings, recipe, recipe_loc)
    if idempotency_key:
        earlier = _replay(session, user, idempotency_key, project_id, recipe)
        if earlier is not None:
            return earlier, True
    run = new_run(project_id, user, recipe, tags, notes)
    run.idempotency_key = idempotency_key
    session.add(run)
    try:
        session.flush()
    except IntegrityError:  # a concurrent request with the same key won the race
        session.rollback()
        earlier = _replay(session, user, idempotency_key or "", project_id, recipe)
        if earlier is None:
            raise
        return earlier, True
    publish(session, project_id, run.id, "run.created", status=run.status)
    session.commit()
    return run, False


def _replay(session: Session, user: User, key: str, project_id: int, recipe: Recipe) -> Run | None:
    run = session.scalar(
        select(Run).where(Run.created_by_id == user.id, Run.idempotency_key == key)
    )
    if run is None:
        return None
    if run.project_id != project_id or run.recipe_sha256 != recipe.sha256():
        raise ApiError(
            409, "Idempotency-Key: reused with a different request", field="Idempotency-Key"
        )
    return run


def get_run(session: Session, user: User, run_id: int, minimum: str = "viewer") -> Run:
    """A run the user may access with at least `minimum` role; 404 for outsiders."""
    return _scoped(session, user, select(Run), run_id, minimum)


def require_run(session: Session, user: User, run_id: int, minimum: str = "viewer") -> int:
    """Like get_run, without loading the run (hot read paths): its id, or 404 for outsiders."""
    return _scoped(session, user, select(Run.id), run_id, minimum)


def _scoped(session: Session, user: User, query: Select[Any], run_id: int, minimum: str) -> Any:
    # One query for the run and the caller's role: no row means missing or not a member.
    member = (Membership.project_id == Run.project_id) & (Membership.user_id == user.id)
    if (scope := token_project(user)) is not None:  # a project-scoped token
        member = member & (Membership.project_id == scope)
    row = session.execute(
        query.add_columns(Membership.role).join(Membership, member).where(Run.id == run_id)
    ).first()
    if row is None:
        raise not_found("run")
    check_rank(row[1], minimum)
    return row[0]


def update_run(session: Session, run: Run, tags: list[str] | None, notes: str | None) -> Run:
    """Replace tags and/or notes."""
    if tags is not None:
        run.tag_rows = [RunTag(tag=t) for t in sorted(set(tags))]
    if notes is not None:
        run.notes = notes
    publish(session, run.project_id, run.id, "run.updated", status=run.status)
    session.commit()
    return run


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch: objects merge recursively, null deletes, the rest replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def delete_run(session: Session, user: User, run: Run, role: str) -> list[Path]:
    """Delete a finished/queued run (its creator or a project owner); returns files to remove."""
    if run.created_by_id != user.id and ROLE_RANK[role] < ROLE_RANK["owner"]:
        raise ApiError(403, "role: only the run's creator or a project owner may delete it")
    if run.status == "running":
        raise ApiError(409, "status: the run is running; cancel it first", field="status")
    paths = [
        Path(a.path) for a in session.scalars(select(Artifact).where(Artifact.run_id == run.id))
    ]
    publish(session, run.project_id, run.id, "run.deleted")
    session.delete(run)
    session.commit()
    return paths
