"""The worker's reporter stores each layer's direct cost and a Winograd-ReLU layer's activation
counts with its row."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from server.db.models import LayerStat as LayerRow
from server.db.models import Run
from tests.worker.test_leases import _reporter, claim
from winoprune.pruning.metrics import LayerStat
from winoprune.training.pipeline import EpochReport
from worker.context import WorkerContext


def test_on_epoch_writes_activation_density_and_mults(
    ctx: WorkerContext, new_run: Callable[..., int]
) -> None:
    run_id = new_run()
    claim(ctx, run_id, "w1")
    relu = LayerStat("features.conv1", "winograd", 4096, 2048, 0.5, 32768, 147456, 65536, 32768,
                     activation_density=0.4, mult_activation_sparse=13107)  # fmt: skip
    plain = LayerStat("features.conv0", "spatial", 27, 27, 0.0, 1000, 1000, None, None)
    report = EpochReport(0, "winograd-relu", 1, {"top1": 0.5}, [plain, relu], {})
    _reporter(ctx, run_id, "w1").on_epoch(report)
    with ctx.session() as session:
        rows = session.execute(
            select(
                LayerRow.layer,
                LayerRow.mult_direct,
                LayerRow.activation_density,
                LayerRow.mult_activation_sparse,
            )
            .where(LayerRow.run_id == run_id)
            .order_by(LayerRow.layer)
        ).all()
    assert [tuple(r) for r in rows] == [
        ("features.conv0", 1000, None, None),
        ("features.conv1", 147456, 0.4, 13107),
    ]


def test_on_epoch_keeps_the_runs_latest_multiplication_totals(
    ctx: WorkerContext, new_run: Callable[..., int]
) -> None:
    run_id = new_run()
    claim(ctx, run_id, "w1")
    reporter = _reporter(ctx, run_id, "w1")
    for epoch, sparse in ((0, 3000.0), (1, 2000.0)):
        totals = {"top1": 0.5, "mult_direct": 9000.0, "mult_winograd_sparse": sparse}
        reporter.on_epoch(EpochReport(0, "spatial-winograd", epoch, totals, [], {}))
    with ctx.session() as session:
        latest = session.execute(
            select(Run.latest_mult_direct, Run.latest_mult_sparse).where(Run.id == run_id)
        ).one()
    assert tuple(latest) == (9000.0, 2000.0)  # the run list reads 9000 / 2000
