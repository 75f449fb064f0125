"""A run's sortable metrics (issue 15): each stage's values at its last epoch, and the run's
final values at its latest (stage, epoch), kept in columns of ``stages`` and ``runs``.

Both write paths call ``refresh_summary`` in the transaction that wrote the metric rows (the
worker's ``on_epoch``, the tracking API's batches), so the columns always agree with the rows.
The values: top-1 (``top1``), Winograd sparsity (``winograd_sparsity``), loss (``test_loss``,
else ``loss``) and the multiplication reduction (``mult_reduction``, else direct / sparse
Winograd multiplications from ``mult_direct`` and ``mult_winograd_sparse``). Beside them the run
keeps each of those two totals at the latest (stage, epoch) that has it (``latest_mult_direct``,
``latest_mult_sparse``: the run list's ``mult_reduction``); ``refresh_latest_totals`` rewrites
them alone where metric rows are deleted.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from server.db.models import Metric, Run, Stage
from server.results.reduction import DIRECT_KEY, LATEST_DIRECT, LATEST_SPARSE, SPARSE_KEY
from winoprune.pruning.metrics import mult_reduction

LOSS_KEYS = ("test_loss", "loss")
SUMMARY_KEYS = ("top1", "winograd_sparsity", "mult_reduction", *LOSS_KEYS, DIRECT_KEY, SPARSE_KEY)
Point = dict[str, float | None]


def summarise(values: Point) -> dict[str, float | None]:
    """The four sortable figures of one (stage, epoch)'s metric values."""
    reduction = values.get("mult_reduction")
    direct, sparse = values.get(DIRECT_KEY), values.get(SPARSE_KEY)
    if reduction is None and direct is not None and sparse is not None:
        reduction = mult_reduction(int(direct), int(sparse))
    loss = next((values[k] for k in LOSS_KEYS if values.get(k) is not None), None)
    return {
        "top1": values.get("top1"),
        "winograd_sparsity": values.get("winograd_sparsity"),
        "mult_reduction": reduction,
        "loss": loss,
    }


def latest_totals(points: dict[tuple[int, int], Point]) -> dict[str, float | None]:
    """{run column: the total's value at the latest (stage, epoch) with a row of it}."""
    totals: dict[str, float | None] = {}
    for key, column in ((DIRECT_KEY, LATEST_DIRECT), (SPARSE_KEY, LATEST_SPARSE)):
        having = [point for point, values in points.items() if key in values]
        totals[column] = points[max(having)][key] if having else None
    return totals


def _points(session: Session, run_id: int, keys: Iterable[str]) -> dict[tuple[int, int], Point]:
    """{(stage, epoch): {key: value}} of the run's metric rows with those keys."""
    points: dict[tuple[int, int], Point] = {}
    rows = session.execute(
        select(Metric.stage, Metric.epoch, Metric.key, Metric.value).where(
            Metric.run_id == run_id, Metric.key.in_(keys)
        )
    )
    for stage, epoch, key, value in rows:
        points.setdefault((stage, epoch), {})[key] = value
    return points


def refresh_latest_totals(session: Session, run_id: int) -> None:
    """Rewrite only the run's latest multiplication totals (after metric rows were deleted);
    does not commit."""
    totals = latest_totals(_points(session, run_id, (DIRECT_KEY, SPARSE_KEY)))
    session.execute(
        update(Run)
        .where(Run.id == run_id)
        .values(totals)
        .execution_options(synchronize_session=False)
    )


def refresh_summary(session: Session, run_id: int, stages: Iterable[int] | None = None) -> None:
    """Rewrite the summary columns of ``run_id`` (of ``stages`` only, when given) from its
    metric rows; does not commit."""
    points = _points(session, run_id, SUMMARY_KEYS)
    if not points:
        return
    last_epoch: dict[int, int] = {}
    for stage, epoch in points:
        last_epoch[stage] = max(epoch, last_epoch.get(stage, epoch))
    wanted = set(last_epoch) if stages is None else set(stages) & set(last_epoch)
    for stage in sorted(wanted):
        figures = summarise(points[(stage, last_epoch[stage])])
        session.execute(
            update(Stage)
            .where(Stage.run_id == run_id, Stage.index == stage)
            .values(
                accuracy=figures["top1"],
                sparsity=figures["winograd_sparsity"],
                loss=figures["loss"],
                mult_reduction=figures["mult_reduction"],
            )
            .execution_options(synchronize_session=False)
        )
    final = summarise(points[max(points)])
    session.execute(
        update(Run)
        .where(Run.id == run_id)
        .values({f"final_{name}": value for name, value in final.items()} | latest_totals(points))
        .execution_options(synchronize_session=False)
    )
