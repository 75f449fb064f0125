"""The lr range test: sweep, smoothing and picking rules, exact state restore on a digits model,
``optimizer.lr: auto`` in the pipeline (logged, reported, stored, not re-run on resume)."""

from __future__ import annotations

import copy
import itertools
import math
from pathlib import Path
from typing import Any

import pytest
import torch

from winoprune.data import build_datasets
from winoprune.models import build_model
from winoprune.recipes import LRFinderSpec, RecipeError, parse_recipe
from winoprune.training import checkpoints as ckpt
from winoprune.training.loop import make_loader
from winoprune.training.lr_finder import lr_range_test, pick_lr, smooth, sweep_lrs
from winoprune.training.pipeline import LR_KEY, Callbacks, EpochReport, Pipeline


def test_sweep_is_geometric_from_min_to_max():
    lrs = sweep_lrs(1e-6, 1e-1, 6)
    assert lrs[0] == pytest.approx(1e-6) and lrs[-1] == pytest.approx(1e-1)
    assert [b / a for a, b in itertools.pairwise(lrs)] == pytest.approx([10.0] * 5)
    with pytest.raises(ValueError, match="lr_finder"):
        sweep_lrs(1.0, 0.1, 5)


def test_smoothing_is_a_bias_corrected_ema():
    assert smooth([3.0, 1.0, 2.0], 0.0) == [3.0, 1.0, 2.0]
    assert smooth([2.0] * 5, 0.9) == pytest.approx([2.0] * 5)  # no start-up bias towards 0
    # m = 0.5 * 1 = 0.5 -> 0.5 / 0.5; m = 0.25 + 1.5 = 1.75 -> 1.75 / 0.75
    assert smooth([1.0, 3.0], 0.5) == pytest.approx([1.0, 1.75 / 0.75])


def test_pick_rules():
    lrs = [1e-5, 1e-4, 1e-3, 1e-2, 1e-1]
    losses = [2.3, 2.2, 1.5, 2.25, 9.0]
    assert pick_lr(lrs, losses, "min-loss", 0.1) == pytest.approx(1e-4)
    assert pick_lr(lrs, losses, "below-start", 1.0) == pytest.approx(1e-2)
    assert pick_lr(lrs, [math.nan] * 5, "min-loss", 0.1) == pytest.approx(1e-6)


def digits_setup():
    torch.manual_seed(0)
    train, _, info = build_datasets({"name": "digits"}, seed=0)
    model = build_model("digits-cnn", 1.0, info.num_classes)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loader = make_loader(train, 64, True, seed=3)
    # one real step first, so that there is momentum state to restore
    x, y = next(iter(loader))
    torch.nn.functional.cross_entropy(model(x), y).backward()
    optimizer.step()
    model.zero_grad(set_to_none=True)
    return model, optimizer, loader


def test_range_test_restores_state_exactly_and_picks_a_finite_lr():
    model, optimizer, loader = digits_setup()
    state = copy.deepcopy(model.state_dict())
    opt_state = copy.deepcopy(optimizer.state_dict())
    rng = torch.get_rng_state()
    spec = LRFinderSpec(min_lr=1e-5, max_lr=10.0, steps=30)
    found = lr_range_test(model, loader, optimizer, torch.device("cpu"), spec)
    assert math.isfinite(found.lr) and 1e-6 <= found.lr <= 1.0
    assert len(found.losses) >= 5 and found.lrs == sweep_lrs(1e-5, 10.0, 30)[: len(found.losses)]
    assert found.lr == pytest.approx(pick_lr(found.lrs, found.smoothed, "min-loss", 0.1))
    assert min(found.smoothed) < found.start_loss  # the sweep did train the model
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key
    restored = optimizer.state_dict()
    assert restored["param_groups"] == opt_state["param_groups"]
    for idx, entry in opt_state["state"].items():
        assert torch.equal(restored["state"][idx]["momentum_buffer"], entry["momentum_buffer"])
    assert torch.equal(torch.get_rng_state(), rng)
    assert all(p.grad is None for p in model.parameters())


def test_a_diverging_sweep_stops_early():
    model, optimizer, loader = digits_setup()
    spec = LRFinderSpec(min_lr=1e-2, max_lr=10.0, steps=200, smoothing=0.0)
    found = lr_range_test(model, loader, optimizer, torch.device("cpu"), spec)
    assert found.diverged and len(found.losses) < 200


AUTO: dict[str, Any] = {
    "name": "auto-lr",
    "model": {"name": "digits-cnn"},
    "data": {"name": "digits"},
    "method": "native-winograd",
    "pretrain": {"epochs": 1, "optimizer": {"lr": 0.05}},
    "stages": [
        {
            "type": "native-winograd",
            "target": 0.5,
            "epochs": 2,
            "optimizer": {"name": "precond-sgd", "lr": "auto"},
            "lr_finder": {"min_lr": 1e-6, "max_lr": 1.0, "steps": 12},
        },
    ],
    "batch_size": 64,
    "eval_batch_size": 360,
    "device": "cpu",
}


class Recorder(Callbacks):
    def __init__(self, stop_after: int | None = None) -> None:
        self.logs: list[str] = []
        self.reports: list[EpochReport] = []
        self.calls = 0
        self.stop_after = stop_after

    def on_log(self, message: str) -> None:
        self.logs.append(message)

    def on_epoch(self, report: EpochReport) -> None:
        self.reports.append(report)

    def should_stop(self) -> bool:
        self.calls += 1
        return self.stop_after is not None and self.calls > self.stop_after


def run(out: Path, stop_after: int | None = None) -> Recorder:
    rec = Recorder(stop_after)
    Pipeline(parse_recipe(AUTO), out, rec).run()
    return rec


def test_auto_lr_is_logged_reported_stored_and_not_rerun_on_resume(tmp_path):
    straight = run(tmp_path / "straight")
    tests = [m for m in straight.logs if "lr range test" in m]
    assert len(tests) == 1 and tests[0].startswith("stage 0 ")
    stage = [r for r in straight.reports if r.stage == 0]
    chosen = stage[0].metrics["lr"]
    assert math.isfinite(chosen) and f"lr {chosen:.3g}" in tests[0]
    assert all(r.metrics["lr"] == chosen for r in stage)  # constant schedule
    for meta, _ in ckpt.list_checkpoints(tmp_path / "straight" / "checkpoints"):
        if meta.stage == 0:
            assert meta.extra[LR_KEY] == chosen

    out = tmp_path / "interrupted"
    run(out, stop_after=25 + 1 + 30)  # pretrain (23 steps + 2 checks), then stage 0 epoch 0
    meta, _ = ckpt.list_checkpoints(out / "checkpoints")[-1]
    assert meta.stage == 0 and meta.step > 0
    resumed = run(out)
    assert not [m for m in resumed.logs if "lr range test" in m]
    assert resumed.reports[-1].metrics["lr"] == chosen
    final = {
        path: ckpt.load_tensors(ckpt.list_checkpoints(path / "checkpoints")[-1][1])
        for path in (tmp_path / "straight", out)
    }
    a, b = final.values()
    for key in a:
        if not key.startswith("rng."):
            assert torch.equal(a[key], b[key]), key


@pytest.mark.parametrize(
    ("changes", "loc"),
    [
        ({"lr_finder": {"min_lr": 1e-2, "max_lr": 1e-3}}, "stages.0.lr_finder.max_lr"),
        ({"lr_finder": {"steps": 2}}, "stages.0.lr_finder.steps"),
        ({"lr_finder": {"rule": "steepest"}}, "stages.0.lr_finder.rule"),
        ({"lr_finder": {"factor": 0}}, "stages.0.lr_finder.factor"),
        ({"optimizer": {"lr": 1e-3}}, "stages.0.lr_finder"),
        ({"optimizer": {"lr": "fast"}}, "stages.0.optimizer.lr"),
    ],
)
def test_lr_finder_rules_name_their_field_path(changes, loc):
    data = copy.deepcopy(AUTO)
    data["stages"][0].update(changes)
    with pytest.raises(RecipeError) as info:
        parse_recipe(data)
    assert loc in [e["loc"] for e in info.value.errors]


def test_lr_auto_fills_the_default_range_test():
    data = copy.deepcopy(AUTO)
    del data["stages"][0]["lr_finder"]
    stage = parse_recipe(data).stages[0]
    assert stage.lr_finder == LRFinderSpec()
