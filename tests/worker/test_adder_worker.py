"""A Winograd adder run (digits) through a real Celery worker on the embedded broker: the layer
rows in the database carry the additions and energy the counting rules give by hand."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from server.db.models import LayerStat, Metric
from tests.worker.stack import Stack, assert_complete_results, make_settings

pytestmark = pytest.mark.slow

WIDTH = 0.5  # conv1: 8 -> 8 channels at 8 x 8
ADDER_RECIPE: dict[str, Any] = {
    "name": "digits-wadder-tiny",
    "model": {"name": "digits-cnn-wadder", "width": WIDTH, "adder": {"transform": "balanced"}},
    "data": {"name": "digits", "train_subset": 128, "test_subset": 64},
    "tile": "F(2,3)",
    "method": "dense",
    "device": "cpu",
    "batch_size": 64,
    "pretrain": {
        "epochs": 2,
        "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9},
        "p_schedule": {"name": "step", "start": 2.0, "end": 1.0, "fraction": 0.5},
    },
    "stages": [],
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("adder")
    stack = Stack(make_settings(tmp), tmp)
    try:
        stack.start_worker()
        yield stack
    finally:
        stack.close()


def test_winograd_adder_run_writes_operation_counts(stack: Stack) -> None:
    run_id = stack.submit(ADDER_RECIPE)
    run = stack.wait_status(run_id, ("succeeded", "failed", "cancelled"), 240)
    assert run["status"] == "succeeded", run
    assert_complete_results(stack, run_id, ADDER_RECIPE)
    with stack.session() as session:
        rows = {
            (r.epoch, r.layer, r.domain): r
            for r in session.scalars(select(LayerStat).where(LayerStat.run_id == run_id))
        }
        energy = {
            m.epoch: m.value
            for m in session.scalars(
                select(Metric).where(Metric.run_id == run_id, Metric.key == "energy_pj")
            )
        }
    k = c = 8
    tiles = 16  # 8 x 8 outputs in 2 x 2 tiles
    # per (k, c, tile) 16 terms of a subtraction and an accumulation; BT d B: 32 additions per
    # (c, tile); AT M A: 24 per (k, tile) (pruning.operations)
    additions = 2 * k * c * 16 * tiles + 32 * c * tiles + 24 * k * tiles
    p2, p1 = rows[(1, "features.conv1", "winograd")], rows[(2, "features.conv1", "winograd")]
    assert (p2.additions, p1.additions) == (additions, additions)
    assert p2.multiplications == k * c * 16 * tiles and p1.multiplications == 0
    assert p1.energy_pj == pytest.approx(0.9 * additions)
    assert p2.energy_pj == pytest.approx(0.9 * additions + 3.7 * k * c * 16 * tiles)
    first = rows[(2, "features.conv0", "spatial")]  # the image conv multiplies
    assert first.multiplications == first.additions == 8 * 9 * 64
    assert energy[2] is not None and energy[2] < energy[1]
    # the API gives the columns to the run page
    layers = stack.client.get(f"/api/v1/runs/{run_id}/layers", params={"stage": -1}).json()
    assert "additions" in layers and "energy_pj" in layers
    assert additions in layers["additions"]
