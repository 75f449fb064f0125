"""benchmarks/full_scale.py: scaling the paper's CIFAR-10 recipe to a time budget."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from winoprune.recipes import parse_recipe

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import full_scale  # noqa: E402

RAW = yaml.safe_load((ROOT / "recipes" / "vgg-nagadomi-cifar10.yaml").read_text())
TIMING = {"dense_epoch_s": 2.0, "winograd_epoch_s": 6.0}


def test_step_milestones_scale_in_proportion_and_vanish_into_constant():
    step = {"name": "step", "milestones": [100, 200, 300], "gamma": 0.1}
    assert full_scale.scaled_schedule(step, 350, 7)["milestones"] == [2, 4, 6]
    assert full_scale.scaled_schedule(step, 150, 3)["milestones"] == [2]
    assert full_scale.scaled_schedule(step, 150, 1) == {"name": "constant"}
    assert full_scale.scaled_schedule({"name": "cosine"}, 150, 1) == {"name": "cosine"}


def test_the_plan_fits_the_budget_and_keeps_the_papers_proportions():
    pretrain, stages = full_scale.plan_epochs(RAW, TIMING, 600.0, 0.4)
    assert pretrain == int(0.4 * 600 / 2.0)
    winograd = [s["type"] == "winograd-direct" for s in RAW["stages"]]
    spent = pretrain * 2.0 + sum(n * (6.0 if w else 2.0) for n, w in zip(stages, winograd))
    assert 0.8 * 600 <= spent <= 1.1 * 600
    # the paper's 350-epoch stages get more than its 150-epoch ones
    paper = [s["epochs"] for s in RAW["stages"]]
    assert stages[paper.index(350)] > stages[paper.index(150)]


def test_a_tiny_budget_still_runs_every_stage_once():
    pretrain, stages = full_scale.plan_epochs(RAW, TIMING, 10.0, 0.4)
    assert pretrain == 2 and stages == [1] * len(RAW["stages"])


def test_the_scaled_recipe_is_valid_and_changes_only_epochs_and_schedules():
    pretrain, stages = full_scale.plan_epochs(RAW, TIMING, 600.0, 0.4)
    recipe = parse_recipe(full_scale.scaled_recipe(RAW, pretrain, stages))
    assert recipe.pretrain is not None and recipe.pretrain.epochs == pretrain
    assert [s.epochs for s in recipe.stages] == stages
    for scaled, paper in zip(recipe.stages, RAW["stages"], strict=True):
        assert (scaled.type, scaled.target) == (paper["type"], paper["target"])
        assert scaled.optimizer.lr == paper["optimizer"]["lr"]
