"""The stage pipeline: a digits job end to end, exact resume after a stop, recipe mismatch."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from winoprune.recipes import load_recipe
from winoprune.training import checkpoints as ckpt
from winoprune.training.pipeline import Callbacks, EpochReport, Pipeline
from winoprune.winograd.layers import WinogradConv2d

ROOT = Path(__file__).resolve().parents[3]


def tiny_recipe(**changes):
    """The digits demo cut to 1 pretraining epoch and 1 epoch per stage."""
    recipe = load_recipe(ROOT / "recipes" / "digits-demo.yaml")
    stages = [s.model_copy(update={"epochs": 1}) for s in recipe.stages[::2]]
    pretrain = recipe.pretrain.model_copy(update={"epochs": 1})
    return recipe.model_copy(update={"stages": stages, "pretrain": pretrain, **changes})


class Recorder(Callbacks):
    def __init__(self, stop_after_steps: int | None = None) -> None:
        self.reports: list[EpochReport] = []
        self.stage_ends: list[dict] = []
        self.steps = 0
        self.stop_after_steps = stop_after_steps

    def on_epoch(self, report: EpochReport) -> None:
        self.reports.append(report)

    def on_stage_end(self, plan, result) -> None:
        self.stage_ends.append(result)

    def should_stop(self) -> bool:
        self.steps += 1
        return self.stop_after_steps is not None and self.steps > self.stop_after_steps


def final_tensors(out: Path) -> dict[str, torch.Tensor]:
    meta, path = ckpt.list_checkpoints(out / "checkpoints")[-1]
    assert meta.stage_done
    return {k: v for k, v in ckpt.load_tensors(path).items() if not k.startswith("rng.")}


def test_digits_job_reports_every_epoch_and_reaches_its_targets(tmp_path):
    recipe = tiny_recipe()
    rec = Recorder()
    pipe = Pipeline(recipe, tmp_path, rec)
    result = pipe.run()
    assert result.status == "succeeded"
    # stage -1 (pretrain) then stages 0, 1; epoch 0 (after pruning) and epoch 1 each
    assert [(r.stage, r.epoch) for r in rec.reports] == [(s, e) for s in (-1, 0, 1) for e in (0, 1)]
    for stage_result, stage in zip(rec.stage_ends[1:], recipe.stages, strict=True):
        assert stage_result["winograd_sparsity"] == pytest.approx(stage.target, abs=0.01)
    last = rec.reports[-1]
    assert last.metrics["top1"] > 0.85
    assert {"top1", "top5", "test_loss", "lr", "train_loss"} <= set(last.metrics)
    assert {row.domain for row in last.layers} == {"winograd"}
    # the Winograd stage converted the layers and kept the spatial zeros pruned
    assert any(isinstance(m, WinogradConv2d) for m in pipe.model.modules())
    for name, mask in pipe.masks.items():
        assert torch.all(pipe.model.get_parameter(name)[mask] == 0)


def test_stopped_run_resumes_to_the_same_result(tmp_path):
    recipe = tiny_recipe()
    Pipeline(recipe, tmp_path / "straight", Recorder()).run()

    out = tmp_path / "interrupted"
    # 23 steps per digits epoch at batch 64: stop inside the second recipe stage's training
    first = Pipeline(recipe, out, Recorder(stop_after_steps=23 * 2 + 10)).run()
    assert first.status == "stopped"
    meta, _ = ckpt.list_checkpoints(out / "checkpoints")[-1]
    assert meta.step > 0 and not meta.stage_done
    second = Pipeline(recipe, out, Recorder()).run()
    assert second.status == "succeeded"

    expected, got = final_tensors(tmp_path / "straight"), final_tensors(out)
    assert expected.keys() == got.keys()
    for key in expected:
        assert torch.equal(expected[key], got[key]), key


def test_resume_refuses_checkpoints_of_another_recipe(tmp_path):
    Pipeline(tiny_recipe(), tmp_path, Recorder(stop_after_steps=5)).run()
    with pytest.raises(ValueError, match="another recipe"):
        Pipeline(tiny_recipe(seed=1), tmp_path, Recorder()).run()


def test_missing_data_directory_is_a_clear_error(tmp_path):
    recipe = load_recipe(ROOT / "recipes" / "cifar10-cpu.yaml")
    data = recipe.data.model_copy(update={"root": str(tmp_path / "nope")})
    with pytest.raises(ValueError, match=r"data.root: .*nope"):
        Pipeline(recipe.model_copy(update={"data": data}), tmp_path / "out").run()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_digits_job_on_cuda_reaches_its_targets_and_resumes(tmp_path):
    recipe = tiny_recipe(device="cuda")
    first = Pipeline(recipe, tmp_path, Recorder(stop_after_steps=23 * 2 + 10)).run()
    assert first.status == "stopped"
    rec = Recorder()
    pipe = Pipeline(recipe, tmp_path, rec)
    assert pipe.run().status == "succeeded"
    assert all(p.device.type == "cuda" for p in pipe.model.parameters())
    assert rec.stage_ends, "the resumed run finished no stage"
    for stage_result in rec.stage_ends:
        target = recipe.stages[stage_result["stage"]].target
        assert stage_result["winograd_sparsity"] == pytest.approx(target, abs=0.01)
    assert rec.reports[-1].metrics["top1"] > 0.85
    # the checkpoint is device-neutral: it loads on the CPU with the pruned zeros in place
    tensors = final_tensors(tmp_path)
    assert all(t.device.type == "cpu" for t in tensors.values())
    for name, mask in pipe.masks.items():
        assert torch.all(tensors[f"model.{name}"][mask.cpu()] == 0)
