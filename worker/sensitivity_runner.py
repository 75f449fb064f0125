"""Sensitivity scans on the workers: a planning task fans the scan out into one task per
layer (or layer x chunk of the grid); every task computes only the points that are missing and
merges them by (scan, layer, grid index), so a redelivered, duplicated or resumed task never
double-counts. Cancellation is cooperative: checked before every point. Every merged point
touches the scan's heartbeat (the tasks in ``worker.sensitivity_tasks`` also beat in a thread),
and every merged point or status change is published as a change notice for the scan page."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import case, func, select, update
from sqlalchemy.exc import IntegrityError

from server.db.base import utcnow
from server.db.models import Artifact
from server.db.sensitivity_models import SensitivityPoint, SensitivityScan
from server.events.service import publish_scan
from winoprune.recipes import parse_recipe
from winoprune.training.sensitivity import ScanPoint, ScanSpec
from winoprune.training.sensitivity import SensitivityScan as CoreScan
from worker.context import WorkerContext
from worker.data_roots import check_data_root
from worker.runner import RUN_ERRORS, describe_error
from worker.scan_heartbeat import ACTIVE, touch_scan

logger = logging.getLogger("winoprune.worker.sensitivity")
# send(scan_id, layer, indices): hands one layer task to the queue
SendLayer = Callable[[int, str, list[int]], None]
_loaded: dict[int, CoreScan] = {}  # this process's loaded scans (data + model), by scan id


def _core(ctx: WorkerContext, scan: SensitivityScan) -> CoreScan:
    """The scan's loaded state, built once per process."""
    if scan.id not in _loaded:
        recipe = parse_recipe(scan.recipe)
        check_data_root(recipe, ctx.settings)
        weights = None
        if scan.artifact_id is not None:
            with ctx.session() as session:
                artifact = session.get(Artifact, scan.artifact_id)
            weights = None if artifact is None else ctx.store.root / artifact.path
            if weights is None or not Path(weights).is_file():
                raise FileNotFoundError(
                    f"artifact_id: the file of artifact {scan.artifact_id} is missing"
                )
        _loaded.clear()  # one scan's data and model in memory at a time
        _loaded[scan.id] = CoreScan(recipe, ScanSpec.from_dict(scan.options), weights)
    return _loaded[scan.id]


def _missing(ctx: WorkerContext, scan_id: int, layer: str, indices: list[int]) -> list[int]:
    with ctx.session() as session:
        done = set(
            session.scalars(
                select(SensitivityPoint.grid_index).where(
                    SensitivityPoint.scan_id == scan_id, SensitivityPoint.layer == layer
                )
            )
        )
    return [i for i in indices if i not in done]


def plan(ctx: WorkerContext, scan_id: int, send: SendLayer) -> str:
    """Load the scan, record its layers and baseline, send the tasks of its missing points."""
    with ctx.session() as session:
        scan = session.get(SensitivityScan, scan_id)
        if scan is None or scan.status not in ACTIVE:
            return "nothing to do"
        if scan.cancel_requested:
            return _finish(ctx, scan_id, "cancelled", "cancelled on request")
        session.expunge(scan)
    try:
        core = _core(ctx, scan)
        started = _start(ctx, scan, core)
    except RUN_ERRORS as exc:
        return _finish(ctx, scan_id, "failed", describe_error(exc))
    if started is None:
        return "nothing to do"  # cancelled (or finished) while it loaded
    layers, chunk = started, scan.chunk_size or len(core.spec.grid)
    grid = list(range(len(core.spec.grid)))
    sent = 0
    for layer in layers:
        missing = _missing(ctx, scan_id, layer, grid)
        for start in range(0, len(missing), chunk):
            send(scan_id, layer, missing[start : start + chunk])
            sent += 1
    if not sent:
        return _finish(ctx, scan_id, "succeeded")
    return f"sent {sent} task(s)"


def _start(ctx: WorkerContext, scan: SensitivityScan, core: CoreScan) -> list[str] | None:
    """Record the layers and baseline (once) and the status "running" (the first delivery
    counts attempt 1), if the scan is still queued or running; its layer names, else None."""
    values: dict[str, object] = {
        "status": "running",
        "started_at": scan.started_at or utcnow(),
        "attempt_count": case(
            (SensitivityScan.attempt_count < 1, 1), else_=SensitivityScan.attempt_count
        ),
    }
    layers = scan.layers
    if layers is None:
        layers = [
            {"name": i.name, "numel": i.numel, "mult_dense": i.mult_dense} for i in core.layers
        ]
        values.update(layers=layers, baseline=core.baseline())
        values["points_total"] = len(core.layers) * len(core.spec.grid)
    with ctx.session() as session:
        changed = session.execute(
            update(SensitivityScan)
            .where(SensitivityScan.id == scan.id, SensitivityScan.status.in_(ACTIVE))
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if changed.rowcount != 1:  # type: ignore[attr-defined]
            session.rollback()
            return None
        publish_scan(session, scan.project_id, scan.id, "scan.updated", status="running")
        session.commit()
    return [str(layer["name"]) for layer in layers]


def scan_points(ctx: WorkerContext, scan_id: int, layer: str, indices: list[int]) -> str:
    """Compute and merge the missing points of ``layer`` at ``indices``."""
    with ctx.session() as session:
        scan = session.get(SensitivityScan, scan_id)
        if scan is None or scan.status != "running":
            return "not running"
        session.expunge(scan)
    try:
        core = _core(ctx, scan)
        computed = 0
        for index in _missing(ctx, scan_id, layer, indices):
            if _cancel_requested(ctx, scan_id):
                return _finish(ctx, scan_id, "cancelled", "cancelled on request")
            _merge(ctx, scan, core.point(layer, index))
            computed += 1
    except RUN_ERRORS as exc:
        return _finish(ctx, scan_id, "failed", describe_error(exc))
    _maybe_succeed(ctx, scan_id)
    return f"{layer}: {computed} point(s)"


def _cancel_requested(ctx: WorkerContext, scan_id: int) -> bool:
    with ctx.session() as session:
        query = select(SensitivityScan.cancel_requested).where(SensitivityScan.id == scan_id)
        return bool(session.scalar(query))


def _merge(ctx: WorkerContext, scan: SensitivityScan, p: ScanPoint) -> bool:
    """Insert one point with its change notice, touching the scan's heartbeat; False when a
    concurrent task already stored it (idempotent merge: nothing of it is written)."""
    row = SensitivityPoint(
        scan_id=scan.id, layer=p.layer, grid_index=p.index, target=p.target,
        sparsity=p.sparsity, accuracy=p.accuracy, loss=p.loss,
        multiplications=p.multiplications, mult_saved=p.mult_saved,
    )  # fmt: skip
    with ctx.session() as session:
        session.add(row)
        publish_scan(session, scan.project_id, scan.id, "scan.points", layer=p.layer, index=p.index)
        try:
            touch_scan(session, scan.id)  # flushes the row first: a duplicate fails here
            session.commit()
        except IntegrityError:
            session.rollback()
            return False
    return True


def _maybe_succeed(ctx: WorkerContext, scan_id: int) -> None:
    with ctx.session() as session:
        total = session.scalar(
            select(SensitivityScan.points_total).where(SensitivityScan.id == scan_id)
        )
        count = session.scalar(
            select(func.count())
            .select_from(SensitivityPoint)
            .where(SensitivityPoint.scan_id == scan_id)
        )
    if total is not None and count is not None and count >= total:
        _finish(ctx, scan_id, "succeeded")


def _finish(ctx: WorkerContext, scan_id: int, status: str, error: str | None = None) -> str:
    """Set a final status once (a scan already final keeps its status) and publish it."""
    with ctx.session() as session:
        changed = session.execute(
            update(SensitivityScan)
            .where(SensitivityScan.id == scan_id, SensitivityScan.status.in_(ACTIVE))
            .values(status=status, error=error, finished_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if changed.rowcount == 1:  # type: ignore[attr-defined]
            project = session.scalar(
                select(SensitivityScan.project_id).where(SensitivityScan.id == scan_id)
            )
            if project is not None:
                publish_scan(session, project, scan_id, "scan.finished", status=status, error=error)
        session.commit()
    logger.info("scan %s: %s %s", scan_id, status, error or "")
    return status
