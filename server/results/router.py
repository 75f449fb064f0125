"""Result endpoints: columnar metrics and layer statistics, CSV/JSON export."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse

from server.auth.deps import CurrentUser, DbSession
from server.fastjson import fast_json
from server.params import CursorQuery, IdPath, IndexQuery, NoNul
from server.results import service
from server.results.patterns import NoCheckpoint, run_patterns
from server.results.report import build_report
from server.runs.service import get_run, require_run

router = APIRouter(prefix="/runs/{run_id}", tags=["results"])
Domain = Literal["spatial", "winograd"]


@router.get("/metrics", response_class=JSONResponse)
def get_metrics(
    session: DbSession,
    user: CurrentUser,
    run_id: IdPath,
    after: CursorQuery = 0,
    stage: IndexQuery = None,
    key: Annotated[list[str] | None, Query(max_length=50), NoNul] = None,
) -> Response:
    """Metrics as columns per point; `after` (the last `cursor`) fetches only new rows."""
    run_id = require_run(session, user, run_id)
    return fast_json(
        {"run_id": run_id, **service.metrics_columnar(session, run_id, after, stage, key)}
    )


@router.get("/layers", response_class=JSONResponse)
def get_layers(
    session: DbSession,
    user: CurrentUser,
    run_id: IdPath,
    stage: IndexQuery = None,
    epoch: IndexQuery = None,
    domain: Domain | None = None,
    after: CursorQuery = 0,
) -> Response:
    """Per-layer statistics as columns, filtered by stage, epoch and domain."""
    run_id = require_run(session, user, run_id)
    return fast_json(service.layers_json(session, run_id, stage, epoch, domain, after))


@router.get("/patterns", response_class=JSONResponse)
def get_patterns(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    run_id: IdPath,
    stage: IndexQuery = None,
    layer: Annotated[str | None, Query(max_length=200), NoNul] = None,
) -> Response:
    """Fraction of zeros at each Winograd position per layer, from the stage's checkpoint."""
    run = get_run(session, user, run_id)
    try:
        body = run_patterns(session, request.app.state.settings, run.id, stage, layer)
    except NoCheckpoint as exc:
        field, _, message = str(exc).partition(": ")
        return JSONResponse({"detail": message, "field": field}, status_code=404)
    return fast_json(body)


@router.get("/report", response_class=HTMLResponse)
def report(request: Request, session: DbSession, user: CurrentUser, run_id: IdPath) -> Response:
    """The run's self-contained HTML report (charts, zero maps, recipe); works offline."""
    run = get_run(session, user, run_id)
    page = build_report(session, request.app.state.settings, run)
    filename = f"run-{run.id}-report.html"
    return HTMLResponse(page, headers={"Content-Disposition": f'inline; filename="{filename}"'})


@router.get("/export", response_model=None)
def export(
    session: DbSession,
    user: CurrentUser,
    run_id: IdPath,
    table: Literal["metrics", "layers"] = "metrics",
    format: Literal["csv", "json"] = "csv",
) -> StreamingResponse | JSONResponse:
    """Download metrics or layer statistics as CSV or as JSON records."""
    run = get_run(session, user, run_id)
    names, rows = service.export_rows(session, run.id, table)
    filename = f"run-{run.id}-{table}.{format}"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if format == "json":
        records = [dict(zip(names, row, strict=True)) for row in rows]
        return JSONResponse(records, headers=headers)
    return StreamingResponse(
        service.csv_lines(names, rows), media_type="text/csv; charset=utf-8", headers=headers
    )
