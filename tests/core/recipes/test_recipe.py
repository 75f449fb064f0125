"""Recipes: the shipped files validate, canonical JSON/sha256 identity, every validation rule."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from winoprune.recipes import (
    Recipe,
    RecipeError,
    load_recipe,
    parse_recipe,
    recipe_json_schema,
)

RECIPES = sorted((Path(__file__).parents[3] / "recipes").glob("*.yaml"))

BASE: dict[str, Any] = {
    "name": "unit",
    "model": {"name": "vgg-nagadomi", "width": 0.25},
    "data": {"name": "cifar10", "root": "/data/cifar"},
    "pretrain": {"epochs": 2, "optimizer": {"lr": 0.05}, "schedule": {"name": "cosine"}},
    "stages": [
        {"type": "spatial-structured", "target": 0.3, "epochs": 1, "optimizer": {"lr": 0.01}},
        {"type": "spatial-structured", "target": 0.5, "epochs": 1, "optimizer": {"lr": 0.01}},
        {"type": "dense", "epochs": 1, "optimizer": {"lr": 0.001}},
        {"type": "winograd-direct", "target": 0.6, "epochs": 1, "optimizer": {"lr": 1e-5}},
    ],
}


def recipe(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    data.update(changes)
    return data


def error_locs(data: Any) -> list[str]:
    with pytest.raises(RecipeError) as info:
        parse_recipe(data)
    assert isinstance(info.value, ValueError)
    for err in info.value.errors:
        assert f"{err['loc']}: {err['msg']}" in str(info.value)
    return [e["loc"] for e in info.value.errors]


def reversed_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: reversed_keys(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [reversed_keys(v) for v in value]
    return value


def test_there_are_recipes_for_the_paper_the_cpu_and_the_demo() -> None:
    names = {p.stem for p in RECIPES}
    expected = {"vgg-nagadomi-cifar10", "convpool-cifar100", "resnet18-imagenet"}
    assert expected | {"cifar10-cpu", "digits-demo", "digits-native"} <= names


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_every_shipped_recipe_validates_and_round_trips(path: Path) -> None:
    loaded = load_recipe(path)
    assert loaded.name == path.stem
    again = parse_recipe(loaded.to_yaml())
    assert again == loaded and again.sha256() == loaded.sha256()
    assert parse_recipe(loaded.canonical_json()).sha256() == loaded.sha256()


def test_paper_schedules_hit_the_reported_sparsities() -> None:
    reported = {"vgg-nagadomi-cifar10": 0.63, "convpool-cifar100": 0.5, "resnet18-imagenet": 0.74}
    for name, sparsity in reported.items():
        r = load_recipe(RECIPES[[p.stem for p in RECIPES].index(name)])
        assert r.tile == "F(4,3)" and r.method == "spatial-winograd"
        winograd = [s for s in r.stages if s.type == "winograd-direct"]
        assert sparsity in [s.target for s in winograd]
        assert all(s.optimizer.name == "sgd" and s.optimizer.lr <= 1e-6 for s in winograd)


def test_canonical_hash_ignores_key_order_format_and_omitted_defaults() -> None:
    base = parse_recipe(recipe())
    explicit = recipe(tile="F(4, 3)", method="spatial-winograd", seed=0, device="auto")
    explicit["stages"][3]["grad_exponent"] = 1.5
    explicit["layers"] = {"first_layer": "fixed", "first_layer_sparsity": 0.2, "exclude": []}
    as_yaml = yaml.safe_dump(reversed_keys(explicit))
    as_json = json.dumps(recipe(), indent=2)
    hashes = {base.sha256(), parse_recipe(as_yaml).sha256(), parse_recipe(as_json).sha256()}
    assert hashes == {base.sha256()}
    assert parse_recipe(recipe(seed=1)).sha256() != base.sha256()
    text = base.canonical_json()
    assert text == json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))
    assert json.loads(text)["stages"][3]["grad_exponent"] == 1.5


def test_distill_is_left_out_of_the_hash_while_unset() -> None:
    base = parse_recipe(recipe())
    assert "distill" not in json.loads(base.canonical_json())
    distilled = parse_recipe(recipe(distill={}))
    assert distilled.distill is not None
    assert (distilled.distill.temperature, distilled.distill.weight) == (4.0, 0.9)
    assert distilled.sha256() != base.sha256()


def test_yaml_exponent_floats_without_a_dot_are_numbers() -> None:
    text = yaml.safe_dump(recipe()).replace("1.0e-05", "1e-5")
    assert "lr: 1e-5" in text
    assert parse_recipe(text).stages[3].optimizer.lr == 1e-5


def test_load_recipe_reads_json_and_reports_missing_files(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text(json.dumps(recipe()))
    assert isinstance(load_recipe(path), Recipe)
    with pytest.raises(RecipeError, match=r"\(file\): .*does not exist"):
        load_recipe(tmp_path / "missing.yaml")
    with pytest.raises(RecipeError, match="not valid YAML/JSON"):
        parse_recipe("name: [unclosed")
    assert error_locs("- just\n- a list\n") == ["(recipe)"]


def test_schema_describes_the_sections() -> None:
    schema = recipe_json_schema()
    assert {"model", "data", "stages", "pretrain", "tile"} <= set(schema["properties"])
    assert schema["additionalProperties"] is False


def with_stage(index: int, **changes: Any) -> dict[str, Any]:
    data = recipe()
    data["stages"][index].update(changes)
    return data


@pytest.mark.parametrize(
    ("data", "loc"),
    [
        (recipe(colour="red"), "colour"),
        (recipe(model={"name": "vgg-nagadomi", "depth": 3}), "model.depth"),
        (recipe(name="has space"), "name"),
        (recipe(model={"name": "alexnet"}), "model.name"),
        (recipe(model={"name": "vgg-nagadomi", "width": 0}), "model.width"),
        (recipe(data={"name": "cifar10"}), "data.root"),
        (recipe(data={"name": "digits", "root": "/x"}), "data.root"),
        (recipe(data={"name": "cifar10", "root": "/x", "train_subset": 0}), "data.train_subset"),
        (recipe(data={"name": "cifar10", "root": "/x", "image_size": 64}), "data.image_size"),
        (recipe(tile="G(4,3)"), "tile"),
        (recipe(method="magic"), "method"),
        (recipe(layers={"first_layer_sparsity": 1.0}), "layers.first_layer_sparsity"),
        (recipe(layers={"overrides": {"features.conv1": -0.1}}), "layers.overrides.features.conv1"),
        (recipe(init_checkpoint="artifact:3"), "pretrain"),
        (recipe(pretrain=None), "pretrain"),
        (recipe(batch_size=0), "batch_size"),
        (recipe(seed=-1), "seed"),
        (recipe(device="tpu"), "device"),
        (with_stage(1, target=1.5), "stages.1.target"),
        (with_stage(1, target=0.2), "stages.1.target"),
        (with_stage(3, target=0.4), "stages.3.target"),
        (with_stage(1, epochs=-1), "stages.1.epochs"),
        (with_stage(1, epochs=1.5), "stages.1.epochs"),
        (with_stage(1, grad_exponent=1.5), "stages.1.grad_exponent"),
        (with_stage(2, target=0.5), "stages.2.target"),
        (with_stage(0, optimizer={"lr": 0}), "stages.0.optimizer.lr"),
        (with_stage(0, optimizer={"lr": 0.1, "momentum": 1.0}), "stages.0.optimizer.momentum"),
        (
            with_stage(0, optimizer={"lr": 0.1, "weight_decay": -1}),
            "stages.0.optimizer.weight_decay",
        ),
        (with_stage(0, optimizer={"name": "rmsprop", "lr": 0.1}), "stages.0.optimizer.name"),
        (
            with_stage(0, optimizer={"lr": 0.1, "momentum": 0, "nesterov": True}),
            "stages.0.optimizer.nesterov",
        ),
        (with_stage(0, schedule={"name": "step"}), "stages.0.schedule.milestones"),
        (
            with_stage(0, schedule={"name": "step", "milestones": [5, 3]}),
            "stages.0.schedule.milestones",
        ),
        (
            with_stage(0, schedule={"name": "cosine", "milestones": [5]}),
            "stages.0.schedule.milestones",
        ),
        (
            with_stage(0, schedule={"name": "step", "milestones": [5], "gamma": 0}),
            "stages.0.schedule.gamma",
        ),
        (with_stage(0, type="native-winograd"), "stages.0.type"),
        (with_stage(3, type="spatial-structured"), "stages"),
        (with_stage(0, type="winograd-direct"), "stages.1.type"),
        (recipe(method="native-winograd"), "stages.0.type"),
        (recipe(method="spatial-structured"), "stages.3.type"),
        (recipe(method="spatial-unstructured"), "stages.0.type"),
        (recipe(method="dense"), "stages.0.type"),
        (recipe(stages=[]), "stages"),
        (recipe(model={"name": "digits-cnn"}), "model.name"),
        (recipe(model={"name": "vgg-nagadomi", "num_classes": 100}), "model.num_classes"),
        (recipe(distill={"temperature": 0}), "distill.temperature"),
        (recipe(distill={"weight": 1.5}), "distill.weight"),
        (recipe(distill={"alpha": 0.5}), "distill.alpha"),
        (recipe(method="dense", stages=[], distill={}), "distill"),
    ],
)
def test_each_rule_names_its_field_path(data: dict[str, Any], loc: str) -> None:
    assert loc in error_locs(data)


def test_dense_method_may_have_no_stages_and_init_checkpoint_replaces_pretrain() -> None:
    r = parse_recipe(recipe(method="dense", stages=[], pretrain=None, init_checkpoint="w.pt"))
    assert r.stages == [] and r.pretrain is None and r.total_epochs() == 0
    ok = recipe(model={"name": "resnet18"}, data={"name": "imagefolder", "root": "/x"})
    assert parse_recipe(ok).data.image_size is None


def test_error_messages_state_the_rule() -> None:
    with pytest.raises(RecipeError, match=r"stages\.1\.target: must be in \[0, 1\), got 1\.5"):
        parse_recipe(with_stage(1, target=1.5))
    with pytest.raises(RecipeError, match=r"stages\.1\.target: must be >= 0\.3"):
        parse_recipe(with_stage(1, target=0.2))
    with pytest.raises(RecipeError, match=r"colour: unknown key"):
        parse_recipe(recipe(colour="red"))
