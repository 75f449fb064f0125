"""Gradual (polynomial, Zhu & Gupta) sparsity schedules inside a stage: values, the stage plan,
a digits job that re-prunes every epoch with nested masks, exact resume, recipe rules."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import torch

from winoprune.recipes import RecipeError, parse_recipe
from winoprune.training import checkpoints as ckpt
from winoprune.training.pipeline import Callbacks, EpochReport, Pipeline
from winoprune.training.stages import plan_stages, polynomial_sparsity

POLY = {"name": "polynomial", "power": 3, "every": 1}
BASE: dict[str, Any] = {
    "name": "poly",
    "model": {"name": "digits-cnn"},
    "data": {"name": "digits"},
    "tile": "F(4,3)",
    "method": "spatial-winograd",
    "pretrain": {"epochs": 1, "optimizer": {"lr": 0.05, "weight_decay": 5e-4}},
    "stages": [
        {"type": "spatial-structured", "target": 0.3, "epochs": 1, "optimizer": {"lr": 0.01}},
        {
            "type": "winograd-direct",
            "target": 0.6,
            "epochs": 3,
            "optimizer": {"lr": 1e-4, "weight_decay": 5e-4},
            "sparsity_schedule": POLY,
        },
    ],
    "batch_size": 64,
    "eval_batch_size": 360,
    "device": "cpu",
}


def recipe_data(**stage_changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    data["stages"][1].update(stage_changes)
    return data


def test_polynomial_values_follow_zhu_and_gupta():
    assert polynomial_sparsity(0.2, 0.8, 0, 10, 3) == pytest.approx(0.2)
    assert polynomial_sparsity(0.2, 0.8, 10, 10, 3) == pytest.approx(0.8)
    assert polynomial_sparsity(0.2, 0.8, 5, 10, 3) == pytest.approx(0.8 - 0.6 * 0.5**3)
    assert polynomial_sparsity(0.2, 0.8, 5, 10, 1) == pytest.approx(0.5)
    assert polynomial_sparsity(0.2, 0.8, 3, 0, 3) == pytest.approx(0.8)


def test_stage_plan_prunes_every_epoch_up_to_the_target():
    plan = plan_stages(parse_recipe(BASE))[2]
    assert plan.initial_target == 0.3  # null initial = the previous Winograd-domain target
    targets = [plan.pruning_target(e) for e in range(plan.epochs)]
    expected = [0.6 - 0.3 * (1 - j / 3) ** 3 for j in (1, 2, 3)]
    assert targets == pytest.approx(expected)
    assert targets[-1] == pytest.approx(0.6)
    assert plan.pruning_target(3) is None
    assert [plan.target_in_effect(e) for e in range(4)] == pytest.approx(
        [expected[0], expected[0], expected[1], expected[2]]
    )


def test_every_two_epochs_prunes_on_even_epochs_only():
    stage = {"epochs": 5, "sparsity_schedule": {**POLY, "every": 2, "initial": 0.4}}
    plan = plan_stages(parse_recipe(recipe_data(**stage)))[2]
    targets = [plan.pruning_target(e) for e in range(5)]
    assert [t is not None for t in targets] == [True, False, True, False, True]
    assert plan.pruning_steps == 3 and targets[4] == pytest.approx(0.6)
    assert targets[0] > 0.4  # the first step already moves past the initial sparsity


def test_constant_schedule_prunes_once_at_the_start():
    plan = plan_stages(parse_recipe(recipe_data(sparsity_schedule={"name": "constant"})))[2]
    assert [plan.pruning_target(e) for e in range(3)] == [0.6, None, None]


class Recorder(Callbacks):
    def __init__(self, stop_after: int | None = None) -> None:
        self.reports: list[EpochReport] = []
        self.masks: list[dict[str, torch.Tensor]] = []
        self.pipe: Pipeline | None = None
        self.calls = 0
        self.stop_after = stop_after

    def on_epoch(self, report: EpochReport) -> None:
        self.reports.append(report)
        if self.pipe is not None and report.stage == 1:
            self.masks.append({k: v.clone() for k, v in self.pipe.masks.items()})

    def should_stop(self) -> bool:
        self.calls += 1
        return self.stop_after is not None and self.calls > self.stop_after


def run(out: Path, stop_after: int | None = None) -> tuple[Pipeline, Recorder]:
    rec = Recorder(stop_after=stop_after)
    pipe = Pipeline(parse_recipe(BASE), out, rec)
    rec.pipe = pipe
    pipe.run()
    return pipe, rec


@pytest.fixture(scope="module")
def straight(tmp_path_factory) -> tuple[Path, Recorder]:
    """One uninterrupted run, shared by the tests that read it (a digits job each time)."""
    out = tmp_path_factory.mktemp("straight")
    return out, run(out)[1]


def test_digits_stage_reaches_its_target_at_the_end_with_nested_masks(straight):
    _, rec = straight
    stage = [r for r in rec.reports if r.stage == 1]
    assert [r.epoch for r in stage] == [0, 1, 2, 3]
    sparsity = [r.summary["winograd_sparsity"] for r in stage]
    for report, value in zip(stage, sparsity, strict=True):
        assert value == pytest.approx(report.metrics["target"], abs=0.01)
    assert sparsity[0] < sparsity[2] < sparsity[3]
    assert sparsity[-1] == pytest.approx(0.6, abs=0.01)
    for before, after in zip(rec.masks, rec.masks[1:], strict=False):
        for name, mask in before.items():
            assert torch.all(after[name] | ~mask), name  # every pruned entry stays pruned


def final_tensors(out: Path) -> dict[str, torch.Tensor]:
    meta, path = ckpt.list_checkpoints(out / "checkpoints")[-1]
    assert meta.stage_done and meta.stage == 1
    return {k: v for k, v in ckpt.load_tensors(path).items() if not k.startswith("rng.")}


# should_stop calls: 1 per step (23 per digits epoch at batch 64), 1 per epoch end, 1 per stage
@pytest.mark.parametrize("stop_after", [74, 85], ids=["epoch-boundary", "mid-epoch"])
def test_stopped_gradual_stage_resumes_to_the_same_result(tmp_path, straight, stop_after):
    out = tmp_path / "interrupted"
    run(out, stop_after=stop_after)
    meta, _ = ckpt.list_checkpoints(out / "checkpoints")[-1]
    assert meta.stage == 1 and not meta.stage_done and meta.epoch == 1
    assert (meta.step > 0) == (stop_after == 85)
    run(out)
    expected, got = final_tensors(straight[0]), final_tensors(out)
    assert expected.keys() == got.keys()
    for key in expected:
        assert torch.equal(expected[key], got[key]), key


@pytest.mark.parametrize(
    ("stage", "loc"),
    [
        ({"sparsity_schedule": {**POLY, "initial": 0.7}}, "stages.1.sparsity_schedule.initial"),
        ({"sparsity_schedule": {**POLY, "power": 0}}, "stages.1.sparsity_schedule.power"),
        ({"sparsity_schedule": {**POLY, "every": 0}}, "stages.1.sparsity_schedule.every"),
        ({"sparsity_schedule": {"name": "cubic"}}, "stages.1.sparsity_schedule.name"),
        ({"sparsity_schedule": {"power": 2}}, "stages.1.sparsity_schedule.name"),
        (
            {"sparsity_schedule": {"name": "constant", "initial": 0.1}},
            "stages.1.sparsity_schedule.initial",
        ),
        ({"epochs": 0}, "stages.1.sparsity_schedule"),
        ({"type": "dense", "target": 0.0}, "stages.1.sparsity_schedule"),
    ],
)
def test_schedule_rules_name_their_field_path(stage, loc):
    data = recipe_data(**stage)
    if stage.get("type") == "dense":
        data["method"] = "spatial-structured"
    with pytest.raises(RecipeError) as info:
        parse_recipe(data)
    assert loc in [e["loc"] for e in info.value.errors]


def test_recipes_without_the_new_fields_keep_their_hash():
    data = recipe_data()
    del data["stages"][1]["sparsity_schedule"]
    assert "sparsity_schedule" not in parse_recipe(data).canonical_json()
    assert "lr_finder" not in parse_recipe(data).canonical_json()
