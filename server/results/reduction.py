"""Multiplication reduction versus direct convolution (direct / sparse Winograd multiplications),
derived from what the worker already stores; no reduction column of its own.

- Overall, per (stage, epoch): the metric rows ``mult_direct`` and ``mult_winograd_sparse`` (the
  epoch summary over all conv layers). A stage's figure is its last epoch's; a run's is that of
  its latest (stage, epoch). Run lists read each total's latest value from the runs row
  (``latest_mult_direct``, ``latest_mult_sparse``, which ``server.runs.summary`` keeps in step
  with the metric rows) instead of two correlated subqueries per listed run.
- Per layer: a "winograd" layer row's ``multiplications`` are its sparse Winograd cost; the
  direct cost of the layer is the row's own ``mult_direct`` where the worker stored it (every
  row it writes; needed by layers that never had a spatial form, e.g. Winograd-ReLU layers),
  else the ``multiplications`` of its "spatial" row, which does not change with pruning, so the
  run's first (stage, epoch) with spatial rows supplies it. A layer with neither has none.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float, Subquery, and_, case, cast, func, select
from sqlalchemy.orm import Session, aliased

from server.db.models import LayerStat, Metric
from winoprune.pruning.metrics import mult_reduction

DIRECT_KEY, SPARSE_KEY = "mult_direct", "mult_winograd_sparse"
LATEST_DIRECT, LATEST_SPARSE = "latest_mult_direct", "latest_mult_sparse"


def stage_reductions(session: Session, run_id: int) -> dict[int, float | None]:
    """{stage index: reduction at the stage's last epoch that has both totals}."""
    rows = session.execute(
        select(Metric.stage, Metric.epoch, Metric.key, Metric.value).where(
            Metric.run_id == run_id, Metric.key.in_((DIRECT_KEY, SPARSE_KEY))
        )
    ).all()
    points: dict[tuple[int, int], dict[str, float | None]] = {}
    for stage, epoch, key, value in rows:
        points.setdefault((stage, epoch), {})[key] = value
    result: dict[int, float | None] = {}
    for (stage, _epoch), values in sorted(points.items()):
        direct, sparse = values.get(DIRECT_KEY), values.get(SPARSE_KEY)
        if direct is not None and sparse is not None:
            result[stage] = mult_reduction(int(direct), int(sparse))
    return result


def latest_reduction(reductions: dict[int, float | None]) -> float | None:
    """The figure of the highest stage that has one (what the run has reached)."""
    return reductions[max(reductions)] if reductions else None


def pop_latest(row: dict[str, Any]) -> float | None:
    """Remove the run's two latest totals (columns ``LATEST_DIRECT``, ``LATEST_SPARSE``, kept
    by ``server.runs.summary``) from a list row; their reduction."""
    direct, sparse = row.pop(LATEST_DIRECT), row.pop(LATEST_SPARSE)
    if direct is None or sparse is None:
        return None
    return mult_reduction(int(direct), int(sparse))


def direct_costs(run_id: int) -> Subquery:
    """(layer, direct): each layer's spatial-row multiplications at the run's first (stage,
    epoch) with spatial rows."""
    spatial = aliased(LayerStat)
    first = (
        select(spatial.stage, spatial.epoch)
        .where(spatial.run_id == run_id, spatial.domain == "spatial")
        .order_by(spatial.stage, spatial.epoch)
        .limit(1)
        .subquery("first_spatial")
    )
    rows = aliased(LayerStat)
    return (
        select(rows.layer, rows.multiplications.label("direct"))
        .join(first, and_(rows.stage == first.c.stage, rows.epoch == first.c.epoch))
        .where(rows.run_id == run_id, rows.domain == "spatial")
        .subquery("direct_costs")
    )


def layer_columns(directs: Subquery) -> list[Any]:
    """``mult_direct`` (every row) and ``mult_reduction`` (winograd rows: direct / their
    sparse Winograd multiplications; null for spatial rows, unknown direct cost or 0)."""
    direct = case(
        (LayerStat.domain == "spatial", LayerStat.multiplications),
        else_=func.coalesce(LayerStat.mult_direct, directs.c.direct),
    )
    reduction = case(
        (
            and_(LayerStat.domain == "winograd", LayerStat.multiplications > 0),
            cast(func.coalesce(LayerStat.mult_direct, directs.c.direct), Float)
            / LayerStat.multiplications,
        ),
        else_=None,
    )
    return [direct.label("mult_direct"), reduction.label("mult_reduction")]
