"""A scan as plain data (exports, allocation) and resolving recipes that name a scan by id."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db.sensitivity_models import SensitivityPoint, SensitivityScan
from server.errors import field_errors
from winoprune.recipes import Recipe
from winoprune.recipes.allocation import needs_allocation, resolve_allocation


def result(session: Session, scan: SensitivityScan) -> dict[str, Any]:
    """The whole scan as plain data (the JSON export; ``allocation_plan``'s input)."""
    rows = session.scalars(
        select(SensitivityPoint)
        .where(SensitivityPoint.scan_id == scan.id)
        .order_by(SensitivityPoint.layer, SensitivityPoint.grid_index)
    )
    return {
        "scan": scan.id,
        "name": scan.name,
        "method": scan.method,
        "spec": scan.options,
        "recipe": scan.recipe,
        "layers": scan.layers or [],
        "baseline": scan.baseline,
        "points": [point_dict(p) for p in rows],
    }


POINT_FIELDS = ("layer", "grid_index", "target", "sparsity", "accuracy", "loss",
                "multiplications", "mult_saved")  # fmt: skip


def point_dict(p: SensitivityPoint) -> dict[str, Any]:
    return {name: getattr(p, name) for name in POINT_FIELDS}


def resolve_recipe_scan(
    session: Session, recipe: Recipe, project_id: int, loc: tuple[str, ...]
) -> Recipe:
    """``layers.scan: <id>`` of a scan in the same project -> explicit per-layer targets; 422
    naming ``layers.scan`` otherwise (a file name cannot be read by the service)."""
    if not needs_allocation(recipe):
        return recipe
    value = str(recipe.layers.scan)
    scan = session.get(SensitivityScan, int(value)) if value.isdigit() else None
    problem = None
    if scan is None or scan.project_id != project_id:
        problem = f"{value!r} is not a scan of this project (give its id; files: resolve locally)"
    elif scan.status != "succeeded":
        problem = f"scan {scan.id} is {scan.status}, not succeeded"
    if problem is None and scan is not None:
        try:
            return resolve_allocation(recipe, result(session, scan), f"scan:{scan.id}")
        except ValueError as exc:
            problem = str(exc).removeprefix("layers.scan: ")
    raise field_errors([{"loc": "layers.scan", "msg": problem}], prefix=loc)
