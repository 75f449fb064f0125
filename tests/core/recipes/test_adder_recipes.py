"""Recipes of the adder models: the shipped ones validate, the rules name the field, the p
schedule's values, and recipes without the new sections keep their canonical JSON."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from winoprune.recipes import Recipe, RecipeError, parse_recipe
from winoprune.recipes.adder_rules import PScheduleSpec, p_at

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = (
    "digits-adder.yaml",
    "digits-wadder.yaml",
    "vgg-nagadomi-adder-cifar10.yaml",
    "vgg-nagadomi-wadder-cifar10.yaml",
    "convpool-wadder-cifar100.yaml",
)


def raw(name: str = "digits-wadder.yaml") -> dict:
    return yaml.safe_load((ROOT / "recipes" / name).read_text())


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_adder_recipes_validate(name):
    recipe = Recipe.model_validate(raw(name))
    assert recipe.method == "dense"
    assert recipe.model.name.endswith(("-adder", "-wadder"))


def errors(recipe: dict) -> str:
    with pytest.raises((RecipeError, ValueError)) as info:
        parse_recipe(recipe)
    return str(info.value)


def test_adder_models_train_with_method_dense_only():
    bad = raw()
    bad["method"] = "spatial-winograd"
    bad["stages"] = [{"type": "spatial-structured", "target": 0.3, "epochs": 1,
                      "optimizer": {"name": "sgd", "lr": 0.01}}]  # fmt: skip
    assert "method" in errors(bad) and "trained, not pruned" in errors(bad)


def test_p_schedule_only_for_winograd_adder_models():
    bad = raw("digits-adder.yaml")
    bad["pretrain"]["p_schedule"] = {"start": 2.0, "end": 1.0}
    assert "pretrain.p_schedule" in errors(bad)
    bad = raw("digits-adder.yaml")
    bad["model"]["adder"] = {"transform": "standard"}
    assert "model.adder.transform" in errors(bad) or "adder.transform" in errors(bad)
    demo = yaml.safe_load((ROOT / "recipes" / "digits-demo.yaml").read_text())
    demo["model"]["adder"] = {"eta": 0.1}
    assert "adder" in errors(demo) and "only for adder models" in errors(demo)


def test_bad_values_name_their_field():
    bad = raw()
    bad["pretrain"]["p_schedule"]["start"] = 2.5
    assert "p_schedule.start" in errors(bad)
    bad = raw()
    bad["model"]["adder"]["eta"] = 0
    assert "adder.eta" in errors(bad)
    bad = raw()
    bad["tile"] = "F(2,5)"
    assert "tile" in errors(bad) and "3x3" in errors(bad)


def test_p_schedule_values():
    linear = PScheduleSpec(start=2.0, end=1.0, fraction=0.5)
    assert [p_at(linear, e, 10) for e in range(7)] == pytest.approx(
        [2.0, 1.8, 1.6, 1.4, 1.2, 1.0, 1.0]
    )
    step = PScheduleSpec(name="step", start=2.0, end=1.0, fraction=0.5)
    assert [p_at(step, e, 4) for e in range(4)] == [2.0, 2.0, 1.0, 1.0]


def test_recipes_without_adder_sections_keep_their_json():
    demo = yaml.safe_load((ROOT / "recipes" / "digits-demo.yaml").read_text())
    text = Recipe.model_validate(copy.deepcopy(demo)).canonical_json()
    assert "p_schedule" not in text and '"adder"' not in text


def test_model_options_reach_the_builder():
    recipe = Recipe.model_validate(raw())
    assert recipe.model_options() == {
        "tile": "F(2,3)",
        "adder_transform": "balanced",
        "train_param": "g",
        "eta": 0.2,
        "grad_mode": "addernet",
    }
