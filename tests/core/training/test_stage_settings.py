"""Dropout rescaling (model.dropout_exponent) and BatchNorm momentum (stages.N.bn_momentum):
the values each stage trains with follow the recipe, through the pipeline and across a resume.

The model is VGG-nagadomi at width 0.125 (two dropouts of 0.5, BN after every conv) on a tiny
image folder of 32x32 noise images; ConvPool-CNN-C checks the input dropout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from torch import nn

from winoprune.models import build_model
from winoprune.pruning.policy import LayerPolicy
from winoprune.recipes import Recipe, RecipeError, parse_recipe
from winoprune.training import checkpoints as ckpt
from winoprune.training.pipeline import Callbacks, EpochReport, Pipeline
from winoprune.training.stage_settings import StageSettings, dropout_sparsity, set_bn_momentum
from winoprune.training.stages import plan_stages

EXPONENT, MOMENTUM = 0.75, 1.0e-4
TARGETS = (0.3, 0.5)


@pytest.fixture(scope="module")
def image_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """root/train/<class>/*.png and root/val/<class>/*.png: 2 classes of seeded noise."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for split, count in (("train", 16), ("val", 4)):
        for label in range(2):
            folder = root / split / f"c{label}"
            folder.mkdir(parents=True)
            for i in range(count):
                pixels = rng.integers(0, 128, (32, 32, 3)) + 64 * label
                Image.fromarray(pixels.astype(np.uint8)).save(folder / f"{i}.png")
    return root


def vgg_recipe(root: Path) -> Recipe:
    """1 dense epoch; spatial-structured 30 % (2 epochs); winograd-direct 50 % with BN momentum
    1e-4 (2 epochs); a dense fine-tune without it (1 epoch). Batch 8: 4 steps per epoch."""
    sgd = {"name": "sgd", "lr": 0.01, "momentum": 0.9}
    return Recipe.model_validate(
        {
            "name": "stage-settings",
            "model": {"name": "vgg-nagadomi", "width": 0.125, "dropout_exponent": EXPONENT},
            "data": {"name": "imagefolder", "root": str(root), "image_size": 32, "augment": False},
            "tile": "F(2,3)",
            "pretrain": {"epochs": 1, "optimizer": sgd},
            "stages": [
                {"type": "spatial-structured", "target": TARGETS[0], "epochs": 2, "optimizer": sgd},
                {
                    "type": "winograd-direct",
                    "target": TARGETS[1],
                    "epochs": 2,
                    "optimizer": {**sgd, "lr": 1e-4},
                    "bn_momentum": MOMENTUM,
                },
                {"type": "dense", "epochs": 1, "optimizer": {**sgd, "lr": 1e-4}},
            ],
            "batch_size": 8,
            "eval_batch_size": 8,
            "device": "cpu",
        }
    )


class Watch(Callbacks):
    """Records, at every epoch report, the dropout rates and BN momenta of the live model."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.pipe: Pipeline | None = None
        self.seen: dict[tuple[int, int], tuple[set[float], set[float | None]]] = {}
        self.calls, self.stop_after = 0, stop_after

    def on_epoch(self, report: EpochReport) -> None:
        assert self.pipe is not None
        modules = list(self.pipe.model.modules())
        rates = {m.p for m in modules if isinstance(m, nn.Dropout)}
        momenta = {m.momentum for m in modules if isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d)}
        self.seen[(report.stage, report.epoch)] = (rates, momenta)

    def should_stop(self) -> bool:
        self.calls += 1
        return self.stop_after is not None and self.calls > self.stop_after


def run(recipe: Recipe, out: Path, watch: Watch) -> str:
    pipe = Pipeline(recipe, out, watch)
    watch.pipe = pipe
    return pipe.run().status


def expected(stage: int) -> tuple[float, float]:
    """What the recipe says stage ``stage`` trains with: p = 0.5 (1 - s)^0.75, s the stage's
    target (the dense stage keeps 50 %); momentum 1e-4 in stage 1 only, else torch's 0.1."""
    s = {-1: 0.0, 0: TARGETS[0], 1: TARGETS[1], 2: TARGETS[1]}[stage]
    return 0.5 * (1 - s) ** EXPONENT, MOMENTUM if stage == 1 else 0.1


def assert_as_recipe_says(seen: dict[tuple[int, int], Any]) -> None:
    assert seen
    for (stage, epoch), (rates, momenta) in seen.items():
        want_rate, want_momentum = expected(stage)
        assert len(rates) == 1 and rates.pop() == pytest.approx(want_rate), (stage, epoch, rates)
        assert momenta == {want_momentum}, (stage, epoch, momenta)


def test_every_stage_trains_with_the_recipes_dropout_and_bn_momentum(image_root, tmp_path):
    watch = Watch()
    assert run(vgg_recipe(image_root), tmp_path, watch) == "succeeded"
    assert sorted({stage for stage, _ in watch.seen}) == [-1, 0, 1, 2]
    assert_as_recipe_says(watch.seen)


def test_a_resumed_stage_gets_them_again(image_root, tmp_path):
    recipe = vgg_recipe(image_root)
    # should_stop is called once per step and between epochs: 20 calls land inside stage 1
    assert run(recipe, tmp_path, Watch(stop_after=20)) == "stopped"
    meta, _ = ckpt.list_checkpoints(tmp_path / "checkpoints")[-1]
    assert meta.stage == 1 and not meta.stage_done
    resumed = Watch()
    assert run(recipe, tmp_path, resumed) == "succeeded"
    assert min(resumed.seen)[0] == 1  # the fresh model's first reports are stage 1's
    assert_as_recipe_says(resumed.seen)


def test_input_dropout_uses_the_first_convs_sparsity():
    model = build_model("convpool-cnn-c", 0.25)
    recipe = vgg_recipe(Path("/unused"))
    plans = plan_stages(recipe)
    settings = StageSettings(recipe, plans, LayerPolicy(first_layer_sparsity=0.2))
    note = settings.apply(model, plans[2], 0)  # stage 1 (winograd-direct, 50 %)
    rates = {n: m.p for n, m in model.named_modules() if isinstance(m, nn.Dropout)}
    assert rates["features.drop_in"] == pytest.approx(0.2 * 0.8**EXPONENT)
    assert rates["features.drop0"] == rates["features.drop1"] == pytest.approx(0.5 * 0.5**0.75)
    assert "BatchNorm momentum 0.0001" in note
    assert f"features.drop_in {0.2 * 0.8**EXPONENT:.4f}" in note
    settings.apply(model, plans[0], 0)  # pretraining: nothing pruned, the built rates
    assert {m.p for m in model.modules() if isinstance(m, nn.Dropout)} == {0.2, 0.5}


def test_dropout_sparsity_follows_a_polynomial_schedule_epoch_by_epoch():
    data = vgg_recipe(Path("/unused")).model_dump(mode="json")
    data["stages"][0]["sparsity_schedule"] = {"name": "polynomial", "initial": 0.1, "power": 1}
    plans = plan_stages(parse_recipe(data))
    stage0 = plans[1]
    assert [dropout_sparsity(plans, stage0, e) for e in (0, 1)] == [stage0.pruning_target(0), 0.3]
    assert dropout_sparsity(plans, plans[-1], 0) == TARGETS[1]  # dense after pruning


def test_set_bn_momentum_sets_every_bn_and_restores_the_built_one():
    model = nn.Sequential(nn.BatchNorm2d(3, momentum=0.2), nn.BatchNorm1d(4))
    assert set(set_bn_momentum(model, 1e-3).values()) == {1e-3}
    assert list(set_bn_momentum(model, None).values()) == [0.2, 0.1]
    with pytest.raises(ValueError, match=r"^bn_momentum:"):
        set_bn_momentum(model, 0.0)


@pytest.mark.parametrize(
    ("path", "value", "loc"),
    [
        (("stages", 0, "bn_momentum"), 0.0, "stages.0.bn_momentum"),
        (("stages", 0, "bn_momentum"), 1.5, "stages.0.bn_momentum"),
        (("model", "dropout_exponent"), -1.0, "model.dropout_exponent"),
    ],
)
def test_out_of_range_values_name_their_field(path, value, loc):
    data = vgg_recipe(Path("/unused")).model_dump(mode="json")
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(RecipeError) as info:
        parse_recipe(data)
    assert loc in {err["loc"] for err in info.value.errors}


def test_unset_options_leave_the_canonical_json_and_sha256_alone():
    data = vgg_recipe(Path("/unused")).model_dump(mode="json")
    del data["model"]["dropout_exponent"], data["stages"][1]["bn_momentum"]
    plain = parse_recipe(data)
    assert "dropout_exponent" not in plain.canonical_json()
    assert "bn_momentum" not in plain.canonical_json()
    assert plain.sha256() != vgg_recipe(Path("/unused")).sha256()
