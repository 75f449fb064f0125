"""A stand-in for the Celery worker: plays a run's stages and epochs into the database.

It writes exactly what worker/reporting.py is meant to write, through the same server helpers
(server.runs.progress): claim, stage start/finish, metrics and per-layer rows per epoch, finish.
Values are synthetic but consistent: sparsity approaches each stage's target, accuracy moves.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from server.db.models import Run
from server.runs import progress

# (name, K, C, output H*W) of a small 4-conv CNN on 8x8 digits; F(4,3): a = 6, 4 tiles/image.
LAYERS = (("conv1", 16, 1, 64), ("conv2", 16, 16, 64), ("conv3", 32, 16, 16), ("conv4", 32, 32, 16))
ALPHA, M, R = 6, 4, 3


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


def play_run(
    factory: sessionmaker[Session],
    run_id: int,
    epoch_delay_s: float = 0.3,
    stop: Callable[[], bool] = lambda: False,
) -> None:
    """Run every stage of `run_id` like a worker would, sleeping between epochs."""
    with factory() as session:
        run = session.get(Run, run_id)
        assert run is not None
        plan = [(s.index, s.type, s.target or 0.0) for s in run.stages]
        epochs = _epochs(run.recipe)
        assert progress.claim_run(session, run_id, "simulated-worker", device="cpu") is not None
    accuracy, spatial, winograd = 0.5, 0.0, 0.0
    for index, stage_type, target in plan:
        with factory() as session:
            progress.start_stage(session, run_id, index)
        for epoch in range(epochs[index] + 1):  # epoch 0: the evaluation right after pruning
            if stop():
                return
            if stage_type.startswith("spatial"):
                spatial = target
                winograd = max(winograd, target * 0.8)
            elif stage_type != "pretrain":
                winograd = target
            accuracy = min(0.99, accuracy + 0.05)
            with factory() as session:
                progress.heartbeat(session, run_id, "simulated-worker", stage=index, epoch=epoch)
                progress.record_metrics(
                    session,
                    run_id,
                    index,
                    epoch,
                    {"top1": accuracy, "test_loss": 1.5 - accuracy, "top5": 1.0},
                )
                progress.record_layer_stats(
                    session, run_id, index, epoch, layer_rows(spatial, winograd)
                )
            time.sleep(epoch_delay_s)
        with factory() as session:
            progress.finish_stage(session, run_id, index, sparsity=winograd, accuracy=accuracy)
    with factory() as session:
        progress.finish_run(session, run_id, "succeeded")


def _epochs(recipe: dict[str, Any]) -> dict[int, int]:
    epochs = {i: int(s["epochs"]) for i, s in enumerate(recipe.get("stages", []))}
    if recipe.get("pretrain"):
        epochs[-1] = int(recipe["pretrain"]["epochs"])
    return epochs
