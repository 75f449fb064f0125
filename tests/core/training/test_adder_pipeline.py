"""A Winograd adder model through the pipeline on digits: the p schedule sets every layer's
exponent per epoch (and a resumed run gets the same), and the layer rows carry the counts."""

from __future__ import annotations

from pathlib import Path

from winoprune.recipes import load_recipe
from winoprune.training.pipeline import Callbacks, EpochReport, Pipeline
from winoprune.winograd.wadder import WinogradAdderConv2d

ROOT = Path(__file__).resolve().parents[3]


class Recorder(Callbacks):
    def __init__(self) -> None:
        self.reports: list[EpochReport] = []
        self.logs: list[str] = []

    def on_epoch(self, report: EpochReport) -> None:
        self.reports.append(report)

    def on_log(self, message: str) -> None:
        self.logs.append(message)


def tiny_recipe(epochs: int = 2):
    """digits-wadder at width 0.5, 128 training images, a step p schedule (2, then 1)."""
    recipe = load_recipe(ROOT / "recipes" / "digits-wadder.yaml")
    schedule = recipe.pretrain.p_schedule.model_copy(update={"name": "step"})
    pretrain = recipe.pretrain.model_copy(update={"epochs": epochs, "p_schedule": schedule})
    data = recipe.data.model_copy(update={"train_subset": 128, "test_subset": 64})
    model = recipe.model.model_copy(update={"width": 0.5})
    return recipe.model_copy(update={"pretrain": pretrain, "data": data, "model": model})


def test_p_schedule_reaches_the_layers_and_the_rows(tmp_path: Path) -> None:
    recorder = Recorder()
    pipe = Pipeline(tiny_recipe(), tmp_path, recorder)
    result = pipe.run()
    assert result.status == "succeeded"
    assert any("Winograd adder p = 2" in line for line in recorder.logs)
    layers = [m for m in pipe.model.modules() if isinstance(m, WinogradAdderConv2d)]
    assert len(layers) == 3 and all(layer.p == 1.0 for layer in layers)
    by_epoch = {r.epoch: {row.layer: row for row in r.layers} for r in recorder.reports}
    # epoch 1 is evaluated at the p of training epoch 0 (2: squares multiply), epoch 2 at p = 1
    conv1_p2, conv1_p1 = by_epoch[1]["features.conv1"], by_epoch[2]["features.conv1"]
    assert conv1_p2.multiplications == conv1_p2.numel * 16 and conv1_p1.multiplications == 0
    assert conv1_p1.additions is not None and conv1_p1.additions < conv1_p2.additions + 1
    final = recorder.reports[-1]
    assert final.summary["additions"] > 0 and final.summary["energy_pj"] > 0
    assert 0.0 <= final.metrics["top1"] <= 1.0


def test_resumed_stage_sets_the_same_p(tmp_path: Path) -> None:
    class StopAfterFirst(Recorder):
        def should_stop(self) -> bool:
            return len(self.reports) >= 2  # after training epoch 0

    first = StopAfterFirst()
    assert Pipeline(tiny_recipe(3), tmp_path, first).run().status == "stopped"
    resumed = Recorder()
    pipe = Pipeline(tiny_recipe(3), tmp_path, resumed)
    assert pipe.run().status == "succeeded"
    # epochs 1 and 2 train at p = 2 (e < 1.5), epoch 2 of 3 at p = 1
    assert [r.epoch for r in resumed.reports] == [2, 3]
    rows = [{row.layer: row for row in r.layers}["features.conv1"] for r in resumed.reports]
    assert rows[0].multiplications > 0 and rows[1].multiplications == 0
