"""A stand-in for the training in a worker: plays a run's stages and epochs into the database
through the worker's own writer, so what it writes is what a worker writes.

The lease is taken with ``worker.leases.claim``, the start announced with the runner's
``_announce``, every stage and epoch reported through ``worker.reporting.DbReporter`` (the
callbacks the pipeline calls) and the run ended with ``worker.runner.finish``. Only the numbers
are synthetic (sparsity approaches each stage's target, accuracy rises); there is no training
and no checkpoint. Browser tests that need real checkpoints, zero maps or the Cancel / Retry /
Resume buttons use a real Celery worker instead (tests/web/test_worker_browser.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from server.db.models import Run
from winoprune.pruning.metrics import LayerStat
from winoprune.recipes import Recipe
from winoprune.training.pipeline import EpochReport
from winoprune.training.stages import plan_stages
from worker import leases
from worker.checkpoints import build_store
from worker.context import WorkerContext
from worker.heartbeat import StopControl
from worker.reporting import DbReporter, RunRef
from worker.runner import _announce, finish

# (name, K, C, output H*W) of a small 4-conv CNN on 8x8 digits; F(4,3): a = 6, 4 tiles/image.
LAYERS = (("conv1", 16, 1, 64), ("conv2", 16, 16, 64), ("conv3", 32, 16, 16), ("conv4", 32, 32, 16))
ALPHA, M, R = 6, 4, 3
OWNER = "simulated-worker"
LEASE_S, MAX_ATTEMPTS = 300.0, 3


def layer_rows(spatial_sparsity: float, winograd_sparsity: float) -> list[dict[str, Any]]:
    """One spatial and one winograd row per layer with consistent counts and costs."""
    rows = []
    for index, (name, k, c, pixels) in enumerate(LAYERS):
        tiles = max(1, pixels // (M * M))
        spatial_numel, winograd_numel = k * c * R * R, k * c * ALPHA * ALPHA
        spread = 1 - 0.1 * index  # later layers a little sparser
        s_nnz = round(spatial_numel * (1 - spatial_sparsity * (2 - spread)))
        w_nnz = round(winograd_numel * (1 - winograd_sparsity * (2 - spread)))
        s_nnz, w_nnz = max(1, min(spatial_numel, s_nnz)), max(1, min(winograd_numel, w_nnz))
        rows.append(_row(name, "spatial", spatial_numel, s_nnz, spatial_numel * pixels))
        rows.append(_row(name, "winograd", winograd_numel, w_nnz, w_nnz * tiles))
    return rows


def _row(layer: str, domain: str, numel: int, nnz: int, mults: int) -> dict[str, Any]:
    return {
        "layer": layer,
        "domain": domain,
        "numel": numel,
        "nnz": nnz,
        "sparsity": 1 - nnz / numel,
        "multiplications": mults,
    }


def layer_stats(spatial_sparsity: float, winograd_sparsity: float) -> list[LayerStat]:
    """``layer_rows`` as the pipeline reports them (``LayerStat``, with the layer's costs)."""
    rows = layer_rows(spatial_sparsity, winograd_sparsity)
    stats = []
    for spatial, winograd in zip(rows[::2], rows[1::2], strict=True):
        tiles = winograd["multiplications"] // winograd["nnz"]
        costs = (spatial["multiplications"], winograd["numel"] * tiles, winograd["multiplications"])
        for row in (spatial, winograd):
            stats.append(LayerStat(**row, mult_direct=costs[0], mult_winograd_dense=costs[1],
                                   mult_winograd_sparse=costs[2]))  # fmt: skip
    return stats


def play_run(
    app: FastAPI,
    run_id: int,
    epoch_delay_s: float = 0.3,
    stop: Callable[[], bool] = lambda: False,
) -> None:
    """Run every stage of `run_id` like a worker would, sleeping between epochs."""
    settings = app.state.settings
    ctx = WorkerContext(settings, app.state.session_factory, build_store(settings))
    with ctx.session() as session:
        run = session.get(Run, run_id)
        assert run is not None
        ref = RunRef(run.id, run.project_id, run.created_by_id, run.model_name)
        plans = plan_stages(Recipe.model_validate(run.recipe))
        won = leases.claim(session, run_id, OWNER, None, LEASE_S, MAX_ATTEMPTS, device="cpu")
    assert won is not None, f"run {run_id} could not be claimed"
    _announce(ctx, won, ref, {"device": "cpu"})
    reporter = DbReporter(ctx, ref, OWNER, StopControl(deadline=float("inf")), {"device": "cpu"})
    accuracy, spatial, winograd = 0.5, 0.0, 0.0
    for plan in plans:
        reporter.on_stage_start(plan)
        for epoch in range(plan.epochs + 1):  # epoch 0: the evaluation right after pruning
            if stop():
                return
            if plan.type.startswith("spatial"):
                spatial = plan.target
                winograd = max(winograd, plan.target * 0.8)
            elif plan.type != "pretrain":
                winograd = plan.target
            accuracy = min(0.99, accuracy + 0.05)
            metrics = {"top1": accuracy, "test_loss": 1.5 - accuracy, "top5": 1.0}
            summary: dict[str, Any] = {"winograd_sparsity": winograd}
            report = EpochReport(
                plan.index, plan.type, epoch, metrics, layer_stats(spatial, winograd), summary
            )
            reporter.on_epoch(report)
            time.sleep(epoch_delay_s)
        reporter.on_stage_end(plan, {"winograd_sparsity": winograd, "top1": accuracy})
    assert finish(ctx, won, "succeeded"), f"run {run_id}: the lease was lost"
