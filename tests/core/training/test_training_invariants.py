"""Training invariants that an accuracy threshold cannot see: a resumed run with dropout equals
an uninterrupted one tensor for tensor, masked weights are exactly zero at every training
forward, and winograd-direct steps use the F_hat^-alpha scaled gradient.

The model is VGG-nagadomi at width 0.125 (dropout 0.5 in its classifier) on a tiny image folder
of 32x32 noise images, so the RNG state matters at every step and each run takes seconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from torch.optim.optimizer import register_optimizer_step_pre_hook

from winoprune.recipes import Recipe
from winoprune.training import checkpoints as ckpt
from winoprune.training.pipeline import Callbacks, Pipeline
from winoprune.winograd.importance import importance_factors
from winoprune.winograd.layers import WinogradConv2d

CLASSES, TRAIN_PER_CLASS, TEST_PER_CLASS, BATCH = 4, 12, 2, 16
STEPS_PER_EPOCH = CLASSES * TRAIN_PER_CLASS // BATCH  # 3
GRAD_EXPONENT = 1.5
DAMPING = 0.1


@pytest.fixture(scope="module")
def image_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """root/train/<class>/*.png and root/val/<class>/*.png: seeded 32x32 RGB noise per class."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for split, count in (("train", TRAIN_PER_CLASS), ("val", TEST_PER_CLASS)):
        for label in range(CLASSES):
            folder = root / split / f"c{label}"
            folder.mkdir(parents=True)
            for i in range(count):
                base = rng.integers(0, 256, (32, 32, 3)) // 2 + 32 * label
                Image.fromarray(base.astype(np.uint8)).save(folder / f"{i}.png")
    return root


def vgg_recipe(root: Path) -> Recipe:
    """VGG-nagadomi x0.125: 1 dense epoch, 2 spatial-structured epochs, 2 winograd-direct ones
    (momentum and weight decay, so pruned weights drift away from zero unless re-masked)."""
    sgd = {"name": "sgd", "lr": 0.01, "momentum": 0.9, "weight_decay": 5.0e-4}
    return Recipe.model_validate(
        {
            "name": "vgg-dropout-invariants",
            "model": {"name": "vgg-nagadomi", "width": 0.125},
            "data": {"name": "imagefolder", "root": str(root), "image_size": 32, "augment": True},
            "tile": "F(2,3)",
            "method": "spatial-winograd",
            "pretrain": {"epochs": 1, "optimizer": {**sgd, "lr": 0.02}},
            "stages": [
                {"type": "spatial-structured", "target": 0.3, "epochs": 2, "optimizer": sgd},
                {
                    "type": "winograd-direct",
                    "target": 0.5,
                    "epochs": 2,
                    "optimizer": {**sgd, "lr": 1.0e-3},
                    "grad_exponent": GRAD_EXPONENT,
                },
            ],
            "batch_size": BATCH,
            "eval_batch_size": 64,
            "seed": 3,
            "device": "cpu",
        }
    )


class StopAfter(Callbacks):
    """Asks to stop once ``should_stop`` has been called more than ``calls`` times."""

    def __init__(self, calls: int | None = None) -> None:
        self.calls, self.seen = calls, 0

    def should_stop(self) -> bool:
        self.seen += 1
        return self.calls is not None and self.seen > self.calls


def final_state(out: Path) -> dict[str, torch.Tensor]:
    """Every tensor of the run's last checkpoint (model, masks, optimizer state, RNG)."""
    meta, path = ckpt.list_checkpoints(out / "checkpoints")[-1]
    assert meta.stage_done and meta.stage == 1
    return ckpt.load_tensors(path)


@pytest.fixture(scope="module")
def straight(image_root: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One uninterrupted run, with its final tensors."""
    out = tmp_path_factory.mktemp("straight")
    assert Pipeline(vgg_recipe(image_root), out, StopAfter()).run().status == "succeeded"
    return final_state(out)


# should_stop() is called before every step and between epochs and stages; these calls land
# inside the dense epoch, inside the second spatial epoch and inside the second winograd-direct
# epoch (after an epoch boundary of the resumed stage); the test asserts each is mid-epoch
STOP_POINTS = [2, 11, 20]


@pytest.mark.parametrize("stop_after", STOP_POINTS)
def test_a_resumed_run_with_dropout_equals_an_uninterrupted_one_exactly(
    image_root: Path, tmp_path: Path, straight: dict[str, torch.Tensor], stop_after: int
) -> None:
    recipe = vgg_recipe(image_root)
    first = Pipeline(recipe, tmp_path, StopAfter(stop_after)).run()
    assert first.status == "stopped"
    meta, _ = ckpt.list_checkpoints(tmp_path / "checkpoints")[-1]
    assert meta.step > 0 and not meta.stage_done  # stopped inside an epoch: the hard case
    assert Pipeline(recipe, tmp_path, StopAfter()).run().status == "succeeded"
    resumed = final_state(tmp_path)
    assert resumed.keys() == straight.keys()
    differing = [k for k in straight if not torch.equal(straight[k], resumed[k])]
    assert differing == [], f"{len(differing)} tensors differ after a resume: {differing[:8]}"


class Watcher:
    """Global hooks on every training forward and optimizer step of one pipeline."""

    def __init__(self, pipe: Pipeline) -> None:
        self.pipe = pipe
        self.forwards = 0
        self.scaled_steps = 0
        self.violations: list[str] = []
        self.raw: dict[int, torch.Tensor] = {}
        self.hooked: set[int] = set()

    def before_forward(self, module: nn.Module, _args: Any) -> None:
        model = getattr(self.pipe, "model", None)
        if isinstance(module, WinogradConv2d) and id(module.weight) not in self.hooked:
            self.hooked.add(id(module.weight))
            module.weight.register_post_accumulate_grad_hook(self.keep_raw_grad)
        if module is not model or not module.training:
            return
        self.forwards += 1
        for name, mask in self.pipe.masks.items():
            weight = model.get_parameter(name)
            if torch.count_nonzero(weight.detach()[mask.to(weight.device)]):
                self.violations.append(f"forward {self.forwards}: {name} has pruned nonzeros")

    def keep_raw_grad(self, weight: torch.Tensor) -> None:
        assert weight.grad is not None
        self.raw[id(weight)] = weight.grad.detach().clone()

    def before_step(self, optimizer: torch.optim.Optimizer, *_: Any) -> None:
        """In winograd-direct stages grad_Q == raw grad_Q / F_hat ** alpha, elsewhere raw."""
        stage_type = getattr(self.pipe, "current_type")  # set by StageTracker
        for module in self.pipe.model.modules():
            if not isinstance(module, WinogradConv2d) or module.weight.grad is None:
                continue
            expected = self.expected(module, self.raw.pop(id(module.weight)), stage_type)
            if not torch.allclose(module.weight.grad, expected, rtol=1e-6, atol=1e-12):
                self.violations.append(f"{stage_type} step: gradient is not the expected one")
        if stage_type == "winograd-direct":
            self.scaled_steps += 1

    def expected(self, module: WinogradConv2d, raw: torch.Tensor, stage_type: str) -> torch.Tensor:
        """The gradient the step should use: raw / F_hat ** alpha in winograd-direct (sgd)."""
        if stage_type != "winograd-direct":
            return raw
        return raw / importance_factors(module.transform).to(raw).pow(GRAD_EXPONENT)


class PrecondWatcher(Watcher):
    """precond-sgd steps: the natural gradient ``P grad_Q P`` with the recipe's damping."""

    def expected(self, module: WinogradConv2d, raw: torch.Tensor, stage_type: str) -> torch.Tensor:
        p = (module.transform.G @ module.transform.G.T).double()
        p = p + DAMPING * torch.linalg.eigvalsh(p).max() * torch.eye(p.shape[0], dtype=p.dtype)
        p = p.to(raw)
        return p @ raw @ p


class StageTracker(Callbacks):
    def __init__(self) -> None:
        self.pipe: Any = None

    def on_stage_start(self, plan: Any) -> None:
        self.pipe.current_type = plan.type


def precond_recipe(root: Path) -> Recipe:
    """The VGG recipe, its training reduced to one winograd-direct epoch of damped precond-sgd."""
    data = vgg_recipe(root).model_dump(mode="json")
    data["pretrain"]["epochs"] = 0
    precond = {"name": "precond-sgd", "lr": 1.0e-3, "momentum": 0.9, "damping": DAMPING}
    data["stages"] = [
        {**data["stages"][0], "epochs": 0},  # prunes, trains nothing
        {"type": "winograd-direct", "target": 0.5, "epochs": 1, "optimizer": precond},
    ]
    return Recipe.model_validate(data)


def watch(pipe: Pipeline, tracker: StageTracker, watcher: Watcher) -> Iterator[Watcher]:
    tracker.pipe = pipe
    vars(pipe)["current_type"] = "pretrain"
    forward = nn.modules.module.register_module_forward_pre_hook(watcher.before_forward)
    step = register_optimizer_step_pre_hook(watcher.before_step)
    try:
        yield watcher
    finally:
        forward.remove()
        step.remove()


@pytest.fixture
def watched(image_root: Path, tmp_path: Path) -> Iterator[Watcher]:
    tracker = StageTracker()
    pipe = Pipeline(vgg_recipe(image_root), tmp_path, tracker)
    yield from watch(pipe, tracker, Watcher(pipe))


@pytest.fixture
def watched_precond(image_root: Path, tmp_path: Path) -> Iterator[Watcher]:
    tracker = StageTracker()
    pipe = Pipeline(precond_recipe(image_root), tmp_path, tracker)
    yield from watch(pipe, tracker, PrecondWatcher(pipe))


def test_masked_weights_are_zero_at_every_forward_and_winograd_steps_are_scaled(
    watched: Watcher,
) -> None:
    assert watched.pipe.run().status == "succeeded"
    assert watched.violations == []
    # 1 dense + 2 spatial + 2 winograd-direct epochs of 3 steps, every one of them watched
    assert watched.forwards == 5 * STEPS_PER_EPOCH
    assert watched.scaled_steps == 2 * STEPS_PER_EPOCH
    assert len(watched.pipe.masks.items()) > 0


def test_precond_sgd_steps_use_the_natural_gradient_with_the_recipes_damping(
    watched_precond: Watcher,
) -> None:
    assert watched_precond.pipe.run().status == "succeeded"
    assert watched_precond.violations == []
    assert watched_precond.scaled_steps == STEPS_PER_EPOCH  # every precond step was checked
