"""Knowledge distillation: the loss, and a distilled pipeline job that resumes exactly."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from winoprune.recipes import DistillSpec
from winoprune.training import checkpoints as ckpt
from winoprune.training.distill import TEACHER_PREFIX, distillation_loss, frozen_copy, teacher_loss
from winoprune.training.pipeline import Pipeline

from .test_pipeline import Recorder, final_tensors, tiny_recipe


def test_weight_zero_is_cross_entropy_and_weight_one_the_scaled_kl():
    torch.manual_seed(0)
    student, teacher = torch.randn(6, 5), torch.randn(6, 5)
    y = torch.randint(0, 5, (6,))
    ce = F.cross_entropy(student, y)
    assert torch.allclose(distillation_loss(student, teacher, y, 3.0, 0.0), ce)
    p = F.softmax(teacher / 3, dim=1)
    kl = (p * (p.log() - F.log_softmax(student / 3, dim=1))).sum(dim=1).mean()
    assert torch.allclose(distillation_loss(student, teacher, y, 3.0, 1.0), 9 * kl)
    mixed = distillation_loss(student, teacher, y, 3.0, 0.25)
    assert torch.allclose(mixed, 0.75 * ce + 0.25 * 9 * kl)


def test_a_student_equal_to_its_teacher_has_no_soft_loss():
    logits = torch.randn(4, 10)
    y = torch.zeros(4, dtype=torch.long)
    assert distillation_loss(logits, logits, y, 4.0, 1.0).abs() < 1e-6


def test_teacher_loss_runs_the_frozen_teacher_on_the_batch():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.5))
    teacher = frozen_copy(model)
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())
    x = torch.randn(8, 3)
    loss = teacher_loss(teacher, 2.0, 1.0)
    # the eval-mode teacher ignores dropout, so an eval-mode student equal to it has loss 0
    assert loss(model.eval()(x), x, torch.zeros(8, dtype=torch.long)) < 1e-6
    model.train()
    out = model(x)
    value = loss(out, x, torch.zeros(8, dtype=torch.long))
    value.backward()
    assert value > 0 and model[0].weight.grad is not None and teacher[0].weight.grad is None
    assert math.isfinite(float(value.detach()))


def distilled_recipe():
    return tiny_recipe(distill=DistillSpec(temperature=2.0, weight=0.5))


def test_a_distilled_job_keeps_its_dense_teacher_and_resumes_exactly(tmp_path):
    recipe = distilled_recipe()
    straight = Pipeline(recipe, tmp_path / "straight", Recorder())
    assert straight.run().status == "succeeded"
    out = tmp_path / "interrupted"
    first = Pipeline(recipe, out, Recorder(stop_after_steps=23 * 2 + 10)).run()
    assert first.status == "stopped"
    assert Pipeline(recipe, out, Recorder()).run().status == "succeeded"
    expected, got = final_tensors(tmp_path / "straight"), final_tensors(out)
    assert expected.keys() == got.keys()
    for key in expected:
        assert torch.equal(expected[key], got[key]), key
    # the teacher is the model as it entered stage 0: dense, and saved with every checkpoint
    teacher = {k: v for k, v in got.items() if k.startswith(TEACHER_PREFIX)}
    assert teacher and all(
        torch.count_nonzero(v) == v.numel() for k, v in teacher.items() if k.endswith("weight")
    )
    _, path = ckpt.list_checkpoints(tmp_path / "straight" / "checkpoints")[-1]
    saved = {k: v for k, v in ckpt.load_tensors(path).items() if k.startswith(TEACHER_PREFIX)}
    assert saved.keys() == teacher.keys()


def test_distillation_changes_the_training(tmp_path):
    plain = Pipeline(tiny_recipe(), tmp_path / "plain", Recorder())
    plain.run()
    distilled = Pipeline(distilled_recipe(), tmp_path / "distilled", Recorder())
    distilled.run()
    a = final_tensors(tmp_path / "plain")
    b = final_tensors(tmp_path / "distilled")
    weights = [k for k in a if k.startswith("model.") and k.endswith("weight")]
    assert any(not torch.equal(a[k], b[k]) for k in weights)
    assert not any(k.startswith(TEACHER_PREFIX) for k in a)


def test_weight_zero_trains_like_no_distillation(tmp_path):
    recipe = tiny_recipe(distill=DistillSpec(temperature=4.0, weight=0.0))
    Pipeline(tiny_recipe(), tmp_path / "plain", Recorder()).run()
    Pipeline(recipe, tmp_path / "zero", Recorder()).run()
    a, b = final_tensors(tmp_path / "plain"), final_tensors(tmp_path / "zero")
    a = {k: v for k, v in a.items() if not k.startswith(TEACHER_PREFIX)}
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-5), key
