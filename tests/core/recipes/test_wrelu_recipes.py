"""Recipes of the winograd-relu method (Liu et al. 2018): which models, methods, tiles and model
options go together, and the build options the pipeline passes to the model."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from winoprune.models import build_model
from winoprune.recipes import RecipeError, load_recipe, parse_recipe
from winoprune.training.stages import plan_stages
from winoprune.winograd.relu import WinogradReLUConv2d

ROOT = Path(__file__).parents[3]
WRELU_RECIPES = sorted((ROOT / "recipes").glob("*wrelu*.yaml"))

STAGE = {"type": "winograd-relu", "target": 0.3, "epochs": 1, "optimizer": {"lr": 0.01}}
BASE: dict[str, Any] = {
    "name": "unit-wrelu",
    "model": {"name": "vgg-nagadomi-wrelu", "width": 0.25},
    "data": {"name": "cifar10", "root": "/data/cifar"},
    "tile": "F(2,3)",
    "method": "winograd-relu",
    "layers": {"first_layer": "prune"},
    "pretrain": {"epochs": 1, "optimizer": {"lr": 0.05}},
    "stages": [STAGE, {**STAGE, "target": 0.5}],
}


def recipe(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    data.update(changes)
    return data


def error_locs(data: dict[str, Any]) -> list[str]:
    with pytest.raises(RecipeError) as info:
        parse_recipe(data)
    return [e["loc"] for e in info.value.errors]


def test_a_winograd_relu_recipe_validates_and_plans_its_stages():
    r = parse_recipe(recipe())
    plans = plan_stages(r)
    assert [p.type for p in plans] == ["pretrain", "winograd-relu", "winograd-relu"]
    assert plans[1].domain is None and plans[1].method == "winograd-relu"
    assert r.model_options() == {"tile": "F(2,3)"}
    again = parse_recipe(recipe(model={**BASE["model"], "input_layer": "winograd-relu"}))
    assert again.model_options() == {"tile": "F(2,3)", "input_layer": "winograd-relu"}
    assert again.sha256() != r.sha256()


def test_model_options_stay_out_of_other_recipes():
    plain = parse_recipe(recipe(model={"name": "vgg-nagadomi"}, method="dense", stages=[]))
    assert plain.model_options() == {}
    assert "input_layer" not in plain.canonical_json()
    assert "q_init" not in plain.canonical_json()


@pytest.mark.parametrize(
    ("data", "loc"),
    [
        (recipe(model={"name": "vgg-nagadomi"}), "model.name"),
        (recipe(method="spatial-winograd"), "method"),
        (recipe(method="native-winograd"), "method"),
        (recipe(tile="F(4,5)"), "tile"),
        (recipe(model={"name": "vgg-nagadomi", "input_layer": "spatial"}), "model.input_layer"),
        (recipe(model={"name": "vgg-nagadomi", "q_init": "spatial"}), "model.q_init"),
        (
            recipe(
                model={"name": "resnet18-var-wrelu", "input_layer": "spatial"},
                data={"name": "imagefolder", "root": "/x"},
            ),
            "model.input_layer",
        ),
        (recipe(model={**BASE["model"], "input_layer": "pixels"}), "model.input_layer"),
        (
            recipe(
                model={**BASE["model"], "input_layer": "spatial"}, layers={"first_layer": "fixed"}
            ),
            "layers.first_layer",
        ),
        (recipe(layers={"first_layer": "prune", "dwm": True}), "layers.dwm"),
        (recipe(stages=[{**STAGE, "grad_exponent": 1.5}]), "stages.0.grad_exponent"),
        (
            recipe(stages=[{**STAGE, "optimizer": {"name": "precond-sgd", "lr": 0.1}}]),
            "stages.0.optimizer.name",
        ),
        (recipe(stages=[{**STAGE, "target": 0.5}, STAGE]), "stages.1.target"),
        (
            recipe(stages=[{**STAGE, "type": "winograd-direct"}]),
            "stages.0.type",
        ),
    ],
)
def test_each_rule_names_its_field(data, loc):
    assert loc in error_locs(data)


def test_dense_control_of_a_winograd_relu_model_is_allowed():
    r = parse_recipe(recipe(method="dense", stages=[]))
    assert r.method == "dense"


@pytest.mark.parametrize("path", WRELU_RECIPES, ids=lambda p: p.name)
def test_shipped_recipes_build_their_models_with_their_tile(path):
    r = load_recipe(path)
    assert r.method == "winograd-relu"
    assert r.layers.first_layer == "prune"  # Liu et al.: one density for every layer
    targets = [s.target for s in r.stages]
    assert targets == sorted(targets) and all(s.type == "winograd-relu" for s in r.stages)
    width = min(r.model.width, 0.125)
    model = build_model(r.model.name, width, **r.model_options())
    layers = [m for m in model.modules() if isinstance(m, WinogradReLUConv2d)]
    assert layers and {m.transform.name for m in layers} == {r.tile}
    assert {s.optimizer.nesterov for s in r.stages} == {True}


def test_there_are_cpu_and_paper_scale_recipes_for_both_tiles():
    names = {p.name for p in WRELU_RECIPES}
    assert {
        "wrelu-cifar10-cpu.yaml",
        "wrelu-cifar10-cpu-f43.yaml",
        "vgg-nagadomi-wrelu-cifar10.yaml",
        "convpool-wrelu-cifar100.yaml",
        "resnet18-var-wrelu-imagenet.yaml",
        "digits-wrelu.yaml",
    } <= names
    tiles = {load_recipe(ROOT / "recipes" / n).tile for n in names}
    assert tiles == {"F(2,3)", "F(4,3)"}
