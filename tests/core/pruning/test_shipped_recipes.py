"""Every shipped recipe prunes the layers it says it prunes (paper-spec section 1, table).

What the recipes say, per model (their comments and descriptions, and the authors' code):
- vgg-nagadomi (CIFAR-10): all 8 3x3 convs; conv0 held at 20 % (``first_layer: fixed``).
- convpool-cnn-c (CIFAR-100): the 7 3x3 convs; conv0 at 20 %; the two 1x1 convs dense.
- resnet18 / resnet18-maxpool (ImageNet): "all 16 3x3 convs are pruned"; the 7x7 stride-2
  conv1, the 1x1 downsample convs and the FC layer stay dense (``first_layer: dense`` names
  conv1).
- digits-cnn: its 4 3x3 convs; conv0 at 20 %.
- with ``layers.dwm`` (DWM, resnet18 only): every conv, conv1 and the 1x1 downsample convs too.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pytest
from torch import nn

from winoprune.models import MODELS, build_model
from winoprune.recipes import Recipe, load_recipe
from winoprune.training.stages import layer_policy, plan_stages
from winoprune.winograd.layers import convert_model
from winoprune.winograd.transforms import standard_transform

ROOT = Path(__file__).parents[3]
SHIPPED = sorted((ROOT / "recipes").glob("*.yaml")) + sorted(
    (ROOT / "benchmarks" / "recipes").glob("*.yaml")
)

# model -> (names of the layers the recipes prune, the model's first conv)
VGG = [f"features.conv{i}" for i in range(8)]
RESNET = [f"layer{s}.{b}.conv{c}" for s in range(1, 5) for b in range(2) for c in (1, 2)]
SAYS: dict[str, tuple[list[str], str]] = {
    "vgg-nagadomi": (VGG, "features.conv0"),
    "convpool-cnn-c": ([f"features.conv{i}" for i in range(7)], "features.conv0"),
    "resnet18": (RESNET, "conv1"),
    "resnet18-maxpool": (RESNET, "conv1"),
    "digits-cnn": ([f"features.conv{i}" for i in range(4)], "features.conv0"),
    # Winograd-ReLU variants (Liu et al.): every Winograd-ReLU layer, built in (first_layer: prune)
    "vgg-nagadomi-wrelu": (VGG, "features.conv0"),
    "convpool-cnn-c-wrelu": ([f"features.conv{i}" for i in range(7)], "features.conv0"),
    "resnet18-var-wrelu": (RESNET, "conv1"),
    "digits-cnn-wrelu": ([f"features.conv{i}" for i in range(4)], "features.conv0"),
    # adder variants (AdderNet, Winograd AdderNet): trained with method dense, nothing pruned
    **{
        f"{base}-{kind}": ([], "features.conv0")
        for base in ("vgg-nagadomi", "convpool-cnn-c", "digits-cnn")
        for kind in ("adder", "wadder")
    },
}
# DWM recipes (layers.dwm): every conv of the model is a Winograd layer and pruned
DWM_SAYS: dict[str, tuple[list[str], str]] = {
    "resnet18": (
        ["conv1", *RESNET, *(f"layer{s}.0.downsample.0" for s in (2, 3, 4))],
        "conv1",
    ),
}


def test_the_shipped_recipes_are_found() -> None:
    assert len(SHIPPED) >= 6
    assert {p.name for p in SHIPPED} >= {"resnet18-imagenet.yaml", "vgg-nagadomi-cifar10.yaml"}


@functools.cache
def _models(name: str, width: float, tile: str, dwm: bool = False) -> tuple[nn.Module, nn.Module]:
    """The model as built (spatial) and after the pipeline's Winograd conversion."""
    spatial = build_model(name, width)
    winograd = build_model(name, width)
    tf = standard_transform(tile)
    convert_model(winograd, m=tf.m, kernel_sizes=(tf.r,), transform=tf, dwm=dwm)
    return spatial, winograd


def _expected(recipe: Recipe, stage_target: float) -> dict[str, float]:
    names, first = (DWM_SAYS if recipe.layers.dwm else SAYS)[recipe.model.name]
    rule = recipe.layers
    expected: dict[str, float] = {}
    for name in names:
        override = next(
            (t for p, t in rule.overrides.items() if re.fullmatch(p.replace("*", ".*"), name)),
            None,
        )
        if override is not None:
            expected[name] = override
        elif name != first or rule.first_layer == "prune":
            expected[name] = stage_target
        elif rule.first_layer == "fixed":
            expected[name] = rule.first_layer_sparsity
    return expected


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_shipped_recipe_prunes_the_layers_it_says(path: Path) -> None:
    recipe = load_recipe(path)
    assert recipe.model.name in SAYS, f"{path.name}: add what its model's recipes prune to SAYS"
    assert not recipe.layers.include and not recipe.layers.exclude  # SAYS has no filters
    policy = layer_policy(recipe)
    spatial, winograd = _models(
        recipe.model.name, recipe.model.width, recipe.tile, recipe.layers.dwm
    )
    plans = plan_stages(recipe)
    if not any(p.prunes for p in plans):  # a dense control (or an adder model) prunes nothing
        trained_only = path.name.startswith("dense") or MODELS[recipe.model.name].adder
        assert trained_only and {p.type for p in plans} <= {"pretrain", "dense"}
    for plan in (p for p in plans if p.prunes):
        model = winograd if plan.domain == "winograd" else spatial
        targets = policy.layer_targets(model, plan.target)
        assert targets == pytest.approx(_expected(recipe, plan.target)), (path.name, plan.index)


def test_resnet18_prunes_all_16_block_convs_and_not_conv1() -> None:
    recipe = load_recipe(ROOT / "recipes" / "resnet18-imagenet.yaml")
    spatial, winograd = _models(recipe.model.name, recipe.model.width, recipe.tile)
    for model, target in ((spatial, 0.2), (winograd, 0.74)):
        targets = layer_policy(recipe).layer_targets(model, target)
        assert sorted(targets) == sorted(RESNET) and set(targets.values()) == {target}
    assert "conv1" not in targets and not any("downsample" in n for n in targets)
