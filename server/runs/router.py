"""Run endpoints: submit, list, get, tags/notes, cancel, retry, resume, clone, delete."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse

from server.artifacts.storage import remove_files
from server.auth.deps import CurrentUser, DbSession
from server.fastjson import fast_json
from server.params import IdPath, IdQuery, NoNul
from server.projects.service import require_role
from server.runs import lifecycle, service
from server.runs.dispatch import enqueue_run
from server.runs.listing import RunFilters, SortKey, list_runs
from server.runs.metric_filters import FILTER_HELP, SORT_HELP, parse_filters
from server.runs.schemas import (
    CloneBody,
    ResumeBody,
    RetryBody,
    RunCreate,
    RunDetail,
    RunPage,
    RunPatch,
    RunStatus,
    run_detail,
)

router = APIRouter(prefix="/runs", tags=["runs"])
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]


@router.post("", response_model=RunDetail, status_code=201)
def create_run(
    request: Request,
    response: Response,
    session: DbSession,
    user: CurrentUser,
    body: RunCreate,
    idempotency_key: IdempotencyKey = None,
) -> RunDetail:
    """Validate a recipe and queue a run (editors); an Idempotency-Key makes retries safe."""
    run, replayed = service.create_run(
        session,
        user,
        body.project,
        body.recipe,
        body.tags,
        body.notes,
        idempotency_key,
        settings=request.app.state.settings,
    )
    detail = run_detail(run)
    if replayed:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
    else:
        detail.dispatched = enqueue_run(request.app, run.id)
    return detail


@router.get("", response_model=RunPage, summary="List runs", response_class=JSONResponse)
def list_runs_route(
    session: DbSession,
    user: CurrentUser,
    project: IdQuery = None,
    status: Annotated[list[RunStatus] | None, Query()] = None,
    method: Annotated[str | None, Query(max_length=64), NoNul] = None,
    model: Annotated[str | None, Query(max_length=64), NoNul] = None,
    dataset: Annotated[str | None, Query(max_length=64), NoNul] = None,
    tile: Annotated[str | None, Query(max_length=32), NoNul] = None,
    q: Annotated[
        str | None,
        Query(
            max_length=64,
            description="part of the name, method, model, data set, tile or a tag (any case)",
        ),
        NoNul,
    ] = None,
    owner: Annotated[str | None, Query(max_length=64), NoNul] = None,
    tag: Annotated[str | None, Query(max_length=64), NoNul] = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    external: Annotated[
        bool | None, Query(description="true: only external runs; false: only worker runs")
    ] = None,
    archived: Annotated[bool, Query(description="true: archived runs too")] = False,
    metric_filter: Annotated[
        list[Annotated[str, NoNul]] | None,
        Query(alias="filter", max_length=20, description=FILTER_HELP),
    ] = None,
    sort: Annotated[SortKey, Query(description=SORT_HELP)] = "created",
    order: Literal["asc", "desc"] = "desc",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=500), NoNul] = None,
) -> Response:
    """The caller's runs (all their projects, or one), filtered (also by metric: see
    ``filter``), sorted, keyset-paginated; each carries its final metrics."""
    filters = RunFilters(
        project=project,
        status=list(status) if status else None,
        method=method,
        model=model,
        dataset=dataset,
        tile=tile,
        q=q or None,
        owner=owner,
        tag=tag,
        created_after=created_after,
        created_before=created_before,
        external=external,
        archived=archived,
        metrics=parse_filters(metric_filter),
        sort=sort,
        order=order,
        limit=limit,
        cursor=cursor,
    )
    runs, next_cursor = list_runs(session, user, filters)
    # rows straight from the database, already in RunOut's shape (the hottest read path)
    return fast_json({"items": runs, "next_cursor": next_cursor})


@router.get("/{run_id}", response_model=RunDetail)
def get_run(session: DbSession, user: CurrentUser, run_id: IdPath) -> RunDetail:
    """One run with its recipe and stages."""
    return run_detail(service.get_run(session, user, run_id))


@router.patch("/{run_id}", response_model=RunDetail)
def patch_run(session: DbSession, user: CurrentUser, run_id: IdPath, body: RunPatch) -> RunDetail:
    """Replace tags and/or notes, archive or unarchive (editors)."""
    run = service.get_run(session, user, run_id, "editor")
    if body.archived is not None:
        lifecycle.set_archived(session, run, body.archived)
    return run_detail(service.update_run(session, run, body.tags, body.notes))


@router.delete("/{run_id}", status_code=204)
def delete_run(request: Request, session: DbSession, user: CurrentUser, run_id: IdPath) -> Response:
    """Delete a run that is not running, with its results and checkpoints."""
    run = service.get_run(session, user, run_id, "editor")
    role = require_role(session, user, run.project_id, "editor")
    remove_files(request.app.state.settings, service.delete_run(session, user, run, role))
    return Response(status_code=204)


@router.post("/{run_id}/cancel", response_model=RunDetail)
def cancel_run(session: DbSession, user: CurrentUser, run_id: IdPath) -> RunDetail:
    """Cancel: a queued run at once, a running one cooperatively (editors)."""
    run = service.get_run(session, user, run_id, "editor")
    return run_detail(lifecycle.cancel_run(session, run))


@router.post("/{run_id}/retry", response_model=RunDetail)
def retry_run(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    run_id: IdPath,
    body: RetryBody | None = None,
) -> RunDetail:
    """Queue a failed/cancelled run again from its first unfinished stage (editors): by default
    it continues from the latest checkpoint; `{"mode": "restart"}` starts that stage over."""
    mode = body.mode if body is not None else "continue"
    run = lifecycle.retry_run(session, service.get_run(session, user, run_id, "editor"), mode)
    enqueue_run(request.app, run.id)
    return run_detail(run)


@router.post("/{run_id}/resume", response_model=RunDetail)
def resume_run(
    request: Request, session: DbSession, user: CurrentUser, run_id: IdPath, body: ResumeBody
) -> RunDetail:
    """Queue a finished run again from a given stage on (editors)."""
    run = service.get_run(session, user, run_id, "editor")
    run = lifecycle.resume_run(session, run, body.stage)
    enqueue_run(request.app, run.id)
    return run_detail(run)


@router.post("/{run_id}/clone", response_model=RunDetail, status_code=201)
def clone_run(
    request: Request, session: DbSession, user: CurrentUser, run_id: IdPath, body: CloneBody
) -> RunDetail:
    """Submit a copy of a run with a JSON merge patch applied to its recipe."""
    source = service.get_run(session, user, run_id)
    recipe = service.merge_patch(source.recipe, body.patch)
    tags = source.tags if body.tags is None else body.tags
    notes = source.notes if body.notes is None else body.notes
    project = source.project_id if body.project is None else body.project
    run, _ = service.create_run(
        session,
        user,
        project,
        recipe,
        tags,
        notes,
        recipe_loc=("body", "patch"),
        settings=request.app.state.settings,
    )
    enqueue_run(request.app, run.id)
    return run_detail(run)
