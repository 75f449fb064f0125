"""Sensitivity scan endpoints: create, list, get, points, export, cancel, resume, allocate."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from server.auth.deps import CurrentUser, DbSession
from server.db.sensitivity_models import SensitivityScan
from server.errors import field_errors
from server.params import CursorQuery, IdPath, IdQuery
from server.projects.service import require_role
from server.sensitivity import service
from server.sensitivity.dispatch import enqueue_scan
from server.sensitivity.schemas import (
    AllocateBody,
    AllocationOut,
    PointOut,
    PointPage,
    ScanCreate,
    ScanDetail,
    ScanOut,
    ScanPage,
)
from winoprune.pruning.allocation_plan import plan_allocation, predicted_curve
from winoprune.training.sensitivity import DEFAULT_GRID

router = APIRouter(prefix="/sensitivity", tags=["sensitivity"])


def _detail(session: DbSession, scan: SensitivityScan) -> ScanDetail:
    detail = ScanDetail.model_validate(scan)
    detail.points_done = service.points_done(session, [scan.id]).get(scan.id, 0)
    return detail


@router.post("", response_model=ScanDetail, status_code=201)
def create_scan(
    request: Request, session: DbSession, user: CurrentUser, body: ScanCreate
) -> ScanDetail:
    """Queue a scan (editors of the source's project) and hand it to the workers."""
    scan = service.create_scan(session, user, body)
    enqueue_scan(request.app, scan.id)
    return _detail(session, scan)


@router.get("", response_model=ScanPage)
def list_scans(
    session: DbSession,
    user: CurrentUser,
    project: IdQuery = None,
    run_id: IdQuery = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ScanPage:
    """The caller's scans, newest first; ``run_id`` gives the scans made from one run."""
    if project is not None:
        require_role(session, user, project, "viewer")
    scans = service.list_scans(session, user, project, run_id, limit)
    done = service.points_done(session, [s.id for s in scans])
    items = []
    for scan in scans:
        out = ScanOut.model_validate(scan)
        out.points_done = done.get(scan.id, 0)
        items.append(out)
    return ScanPage(items=items)


@router.get("/{scan_id}", response_model=ScanDetail)
def get_scan(session: DbSession, user: CurrentUser, scan_id: IdPath) -> ScanDetail:
    """One scan with its recipe and progress."""
    return _detail(session, service.get_scan(session, user, scan_id))


@router.get("/{scan_id}/points", response_model=PointPage)
def list_points(
    session: DbSession,
    user: CurrentUser,
    scan_id: IdPath,
    after: CursorQuery = 0,
    limit: Annotated[int, Query(ge=1, le=5000)] = 2000,
) -> PointPage:
    """Points stored after the cursor (poll with ``after=next`` for live updates)."""
    scan = service.get_scan(session, user, scan_id)
    rows = service.points(session, scan, after, limit)
    return PointPage(
        items=[PointOut.model_validate(p) for p in rows], next=rows[-1].id if rows else None
    )


@router.get(
    "/{scan_id}/export",
    responses={200: {"content": {"text/csv": {}, "application/json": {}}}},
    response_class=Response,
)
def export_scan(
    session: DbSession,
    user: CurrentUser,
    scan_id: IdPath,
    format: Literal["json", "csv"] = "json",
) -> Response:
    """The whole scan as JSON (layers, baseline, points) or its points as CSV."""
    scan = service.get_scan(session, user, scan_id)
    data = service.result(session, scan)
    name = f"sensitivity-{scan.id}.{format}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if format == "json":
        return JSONResponse(data, headers=headers)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(service.POINT_FIELDS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(data["points"])
    return Response(out.getvalue(), media_type="text/csv", headers=headers)


@router.post("/{scan_id}/cancel", response_model=ScanDetail)
def cancel_scan(session: DbSession, user: CurrentUser, scan_id: IdPath) -> ScanDetail:
    """Cancel: a queued scan at once, a running one between points (editors)."""
    scan = service.get_scan(session, user, scan_id, "editor")
    return _detail(session, service.cancel_scan(session, scan))


@router.post("/{scan_id}/resume", response_model=ScanDetail)
def resume_scan(
    request: Request, session: DbSession, user: CurrentUser, scan_id: IdPath
) -> ScanDetail:
    """Queue an unfinished scan again; only missing points are computed (editors)."""
    scan = service.resume_scan(session, service.get_scan(session, user, scan_id, "editor"))
    enqueue_scan(request.app, scan.id)
    return _detail(session, scan)


@router.post("/{scan_id}/allocate", response_model=AllocationOut)
def allocate(
    session: DbSession, user: CurrentUser, scan_id: IdPath, body: AllocateBody
) -> AllocationOut:
    """Per-layer targets for a global target from the scan's curves (viewers; writes nothing)."""
    scan = service.get_scan(session, user, scan_id)
    data = service.result(session, scan)
    if not data["points"] or data["baseline"] is None:
        raise field_errors([{"loc": "scan_id", "msg": "the scan has no points yet"}], ("path",))
    try:
        plan = plan_allocation(data, body.target, body.budget, body.metric)
    except ValueError as exc:
        field, _, msg = str(exc).partition(": ")
        raise field_errors([{"loc": field, "msg": msg}], ("body",)) from None
    curve = predicted_curve(data, DEFAULT_GRID, body.budget, body.metric)
    return AllocationOut(
        targets=plan.targets,
        achieved=plan.achieved,
        predicted_loss=plan.predicted_loss,
        predicted_accuracy=plan.predicted_accuracy,
        curve=curve,
        overrides=plan.targets,
    )
