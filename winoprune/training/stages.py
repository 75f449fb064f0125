"""The stage plan of a recipe: pretraining as stage -1, then recipe stage i as stage i.

A stage prunes at the start of its epoch 0 (to its target, or with a polynomial sparsity
schedule to the schedule's first value) and, with the polynomial schedule, again at the start of
every ``every``-th epoch: ``StagePlan.pruning_target(epoch)`` is a pure function of the epoch, so
a resumed stage re-prunes exactly where an uninterrupted one would.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, cast

from winoprune.pruning import METHODS, Method
from winoprune.pruning.policy import LayerPolicy
from winoprune.recipes import AUTO_LR, Recipe
from winoprune.recipes.rules import TARGET_DOMAIN

PRETRAIN_STAGE = -1

# the domain each stage type trains in; None keeps whatever the model is in
STAGE_DOMAINS: dict[str, str | None] = {
    "pretrain": "spatial",
    "dense": None,
    "spatial-structured": "spatial",
    "spatial-unstructured": "spatial",
    "winograd-direct": "winograd",
    "native-winograd": "winograd",
    "winograd-relu": None,  # Winograd-ReLU models are built in the Winograd domain
}


def polynomial_sparsity(
    initial: float, final: float, t: float, total: float, power: float
) -> float:
    """Zhu & Gupta (2017): ``s_t = s_f + (s_i - s_f) * (1 - t / T) ** power`` for t in [0, T]
    (``t`` is clamped to [0, T]; ``T = 0`` gives ``s_f``)."""
    if total <= 0:
        return final
    progress = min(max(t / total, 0.0), 1.0)
    return final + (initial - final) * (1.0 - progress) ** power


@dataclass(frozen=True)
class StagePlan:
    index: int
    type: str
    target: float
    epochs: int
    optimizer: Any
    schedule: Any
    grad_exponent: float = 0.0
    lr_finder: Any = None  # LRFinderSpec when optimizer.lr is "auto"
    sparsity_schedule: Any = None  # SparsityScheduleSpec or None (= constant)
    initial_target: float = 0.0  # the polynomial schedule's s_i, resolved

    @property
    def auto_lr(self) -> bool:
        """True when the lr range test picks the stage's base learning rate."""
        return bool(self.optimizer.lr == AUTO_LR)

    @property
    def gradual(self) -> bool:
        """True for a pruning stage with the polynomial sparsity schedule."""
        schedule = self.sparsity_schedule
        return self.prunes and schedule is not None and schedule.name == "polynomial"

    @property
    def pruning_steps(self) -> int:
        """How many times the stage prunes: ceil(epochs / every) (polynomial), else 1."""
        if not self.gradual:
            return 1
        return max(1, math.ceil(self.epochs / self.sparsity_schedule.every))

    def pruning_target(self, epoch: int) -> float | None:
        """The stage target to prune to at the start of ``epoch`` (0-based), None for no pruning.

        Constant: the target at epoch 0. Polynomial: pruning step ``j = epoch / every`` (epochs
        that are multiples of ``every``) prunes to ``polynomial_sparsity(s_i, target, j + 1, n,
        power)`` with ``n = pruning_steps``, so the first step already moves past ``s_i`` and
        step ``n - 1`` reaches the target.
        """
        if not self.prunes or epoch < 0:
            return None
        if not self.gradual:
            return self.target if epoch == 0 else None
        every = self.sparsity_schedule.every
        if epoch % every or epoch >= self.epochs:
            return None
        step, steps = epoch // every, self.pruning_steps
        power = self.sparsity_schedule.power
        return polynomial_sparsity(self.initial_target, self.target, step + 1, steps, power)

    def target_in_effect(self, report_epoch: int) -> float:
        """The target of the latest pruning step before report ``report_epoch`` (0 = right
        after the first pruning, e = after training epoch e - 1); the target for non-pruning
        stages."""
        if not self.prunes:
            return self.target
        last = min(max(report_epoch - 1, 0), max(self.epochs - 1, 0))
        found = (self.pruning_target(e) for e in range(last, -1, -1))
        return next((t for t in found if t is not None), self.target)

    @property
    def domain(self) -> str | None:
        return STAGE_DOMAINS[self.type]

    @property
    def method(self) -> Method:
        """The pruning method of this stage (only for stages that prune)."""
        if self.type not in METHODS:
            raise ValueError(f"stage {self.index}: type {self.type!r} does not prune")
        return cast(Method, self.type)

    @property
    def prunes(self) -> bool:
        return self.type not in ("pretrain", "dense")


def plan_stages(recipe: Recipe) -> list[StagePlan]:
    """Stage -1 = dense pretraining (absent when starting from a checkpoint), then stage i =
    ``recipe.stages[i]``. A polynomial schedule's null ``initial`` resolves to the previous
    pruning stage's target in the same target domain (0 for the first)."""
    plan = []
    pre = recipe.pretrain
    if pre is not None:
        plan.append(
            StagePlan(
                PRETRAIN_STAGE,
                "pretrain",
                0.0,
                pre.epochs,
                pre.optimizer,
                pre.schedule,
                lr_finder=pre.lr_finder,
            )
        )
    reached: dict[str, float] = {}  # the last target per target domain
    for i, stage in enumerate(recipe.stages):
        domain = TARGET_DOMAIN.get(stage.type)
        schedule = stage.sparsity_schedule
        initial = schedule.initial if schedule is not None else None
        if initial is None:
            initial = reached.get(domain, 0.0) if domain is not None else 0.0
        plan.append(
            StagePlan(
                i,
                stage.type,
                stage.target,
                stage.epochs,
                stage.optimizer,
                stage.schedule,
                grad_exponent=(stage.grad_exponent or 0.0)
                if stage.type == "winograd-direct"
                else 0.0,
                lr_finder=stage.lr_finder,
                sparsity_schedule=schedule,
                initial_target=min(initial, stage.target),
            )
        )
        if domain is not None:
            reached[domain] = stage.target
    return plan


def _grad_exponent(stage: Any) -> float:
    return float(stage.grad_exponent or 0.0) if stage.type == "winograd-direct" else 0.0


def layer_policy(recipe: Recipe) -> LayerPolicy:
    layers = recipe.layers
    if layers.allocation is not None:  # resolved at submit time (recipes.allocation)
        raise ValueError("layers.allocation: resolve the sensitivity scan into targets first")
    return LayerPolicy(
        first_layer=layers.first_layer,
        first_layer_sparsity=layers.first_layer_sparsity,
        include=layers.include,
        exclude=list(layers.exclude),
        overrides=dict(layers.overrides),
        dwm=layers.dwm,
    )
