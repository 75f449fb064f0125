"""The stage plan of a recipe: pretraining as stage -1, then recipe stage i as stage i."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from winoprune.pruning import METHODS, Method
from winoprune.pruning.policy import LayerPolicy
from winoprune.recipe import Recipe

PRETRAIN_STAGE = -1

# the domain each stage type trains in; None keeps whatever the model is in
STAGE_DOMAINS: dict[str, str | None] = {
    "pretrain": "spatial",
    "dense": None,
    "spatial-structured": "spatial",
    "spatial-unstructured": "spatial",
    "winograd-direct": "winograd",
    "native-winograd": "winograd",
}


@dataclass(frozen=True)
class StagePlan:
    index: int
    type: str
    target: float
    epochs: int
    optimizer: Any
    schedule: Any
    grad_exponent: float = 0.0

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
    ``recipe.stages[i]``."""
    plan = []
    pre = recipe.pretrain
    if pre is not None:
        plan.append(
            StagePlan(PRETRAIN_STAGE, "pretrain", 0.0, pre.epochs, pre.optimizer, pre.schedule)
        )
    for i, stage in enumerate(recipe.stages):
        exponent = (stage.grad_exponent or 0.0) if stage.type == "winograd-direct" else 0.0
        plan.append(
            StagePlan(
                i, stage.type, stage.target, stage.epochs, stage.optimizer, stage.schedule, exponent
            )
        )
    return plan


def layer_policy(recipe: Recipe) -> LayerPolicy:
    layers = recipe.layers
    return LayerPolicy(
        first_layer=layers.first_layer,
        first_layer_sparsity=layers.first_layer_sparsity,
        include=layers.include,
        exclude=list(layers.exclude),
        overrides=dict(layers.overrides),
    )
