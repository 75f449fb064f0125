"""The l2-to-l1 exponent of Winograd adder layers (Li et al. 2021), set per epoch.

Like dropout and BN momentum (``stage_settings``), p is not in a checkpoint: it is a pure
function of the recipe, the stage and the epoch (``recipes.adder_rules.p_at``), set before every
training phase of a stage, so a resumed stage trains with the values an uninterrupted one had. A
phase without a ``p_schedule`` holds the ``end`` of the latest earlier one (the layers' built
p = 1 when there is none).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from winoprune.recipes import Recipe
from winoprune.recipes.adder_rules import PScheduleSpec, p_at
from winoprune.training.stages import PRETRAIN_STAGE, StagePlan
from winoprune.winograd.wadder import WinogradAdderConv2d


def set_adder_p(model: nn.Module, p: float) -> int:
    """Set the exponent of every Winograd adder layer of ``model``; returns how many."""
    layers = [m for m in model.modules() if isinstance(m, WinogradAdderConv2d)]
    for layer in layers:
        layer.p = p
    return len(layers)


class PSchedules:
    """The recipe's p schedules by stage index (pretraining: -1)."""

    def __init__(self, recipe: Recipe, plans: Sequence[StagePlan]) -> None:
        given: dict[int, PScheduleSpec | None] = {
            i: stage.p_schedule for i, stage in enumerate(recipe.stages)
        }
        if recipe.pretrain is not None:
            given[PRETRAIN_STAGE] = recipe.pretrain.p_schedule
        self.schedules = given
        self.plans = list(plans)

    def p_for(self, plan: StagePlan, epoch: int) -> float | None:
        """p for ``plan``'s epoch ``epoch``; None when no phase up to it has a schedule."""
        own = self.schedules.get(plan.index)
        if own is not None:
            return p_at(own, epoch, plan.epochs)
        earlier = [s for i, s in sorted(self.schedules.items()) if i < plan.index and s is not None]
        return earlier[-1].end if earlier else None

    def apply(self, model: nn.Module, plan: StagePlan, epoch: int) -> str:
        """Set p for ``plan``'s epoch ``epoch``; returns a log line ("" when nothing is set)."""
        p = self.p_for(plan, epoch)
        if p is None or not set_adder_p(model, p):
            return ""
        return f"Winograd adder p = {p:.4g}"
