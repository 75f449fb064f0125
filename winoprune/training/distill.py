"""Knowledge distillation from a frozen teacher (the recipe's ``distill`` section)."""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
TEACHER_PREFIX = "teacher."


def distillation_loss(
    student: torch.Tensor,
    teacher: torch.Tensor,
    labels: torch.Tensor,
    temperature: float,
    weight: float,
) -> torch.Tensor:
    """``(1 - weight) * CE(student, labels) + weight * T^2 * KL(p_teacher^T || p_student^T)``.

    The T^2 factor keeps the soft term's gradient scale independent of T (Hinton et al. 2015).
    """
    t = temperature
    soft = F.kl_div(
        F.log_softmax(student / t, dim=1),
        F.log_softmax(teacher / t, dim=1),
        reduction="batchmean",
        log_target=True,
    )
    return (1 - weight) * F.cross_entropy(student, labels) + weight * t * t * soft


def frozen_copy(model: nn.Module) -> nn.Module:
    """An evaluation-mode copy of ``model`` with no gradients (the teacher)."""
    teacher = copy.deepcopy(model).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


def teacher_loss(teacher: nn.Module, temperature: float, weight: float) -> LossFn:
    """The training loss ``(output, x, y) -> loss`` that distils ``teacher`` into the student."""

    def loss(output: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            target = teacher(x)
        return distillation_loss(output, target, y, temperature, weight)

    return loss
