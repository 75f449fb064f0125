"""Per-stage settings of the layers without weights: dropout rates and BatchNorm momentum.

Neither is in a checkpoint, so both are pure functions of the recipe, the stage and the epoch,
applied before every training phase of a stage (the lr range test and each epoch): a resumed
stage, whose model is freshly built, trains with exactly the values an uninterrupted one had.

- Dropout (``model.dropout_exponent`` = e, the authors' CIFAR-100 rule, paper-spec 2): every
  dropout rate becomes ``p = p0 * (1 - s) ** e``, with p0 the rate the model was built with and
  s the sparsity in effect: the stage's current pruning target (a dense stage keeps the last
  pruning stage's; 0 before any pruning). An input dropout (``drop_in``) feeds the first conv
  and uses that conv's target instead: ``first_layer_sparsity`` (20 %) under
  ``first_layer: fixed``, as the authors' input dropout uses s = 0.2.
- BatchNorm momentum (``stages.N.bn_momentum``; the authors use 1e-4 in the VGG Winograd
  stages): set on every BatchNorm for that stage; a stage without it trains with the momentum
  the model was built with (torch's 0.1), whatever the stage before it used.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from winoprune.models import rescale_dropout
from winoprune.pruning.policy import LayerPolicy, first_conv
from winoprune.recipes import Recipe
from winoprune.training.p_schedule import PSchedules
from winoprune.training.stages import StagePlan

BASE_MOMENTUM_ATTR = "winoprune_base_momentum"


def set_bn_momentum(model: nn.Module, momentum: float | None) -> dict[str, float | None]:
    """Set the momentum of every BatchNorm (1-d, 2-d, 3-d) of ``model``; None restores the one
    it was built with (remembered on the module at the first call). Returns {name: momentum}."""
    if momentum is not None and not 0.0 < momentum <= 1.0:
        raise ValueError(f"bn_momentum: must be in (0, 1], got {momentum}")
    values: dict[str, float | None] = {}
    for name, module in model.named_modules():
        if not isinstance(module, nn.modules.batchnorm._BatchNorm):
            continue
        if not hasattr(module, BASE_MOMENTUM_ATTR):
            setattr(module, BASE_MOMENTUM_ATTR, module.momentum)
        module.momentum = getattr(module, BASE_MOMENTUM_ATTR) if momentum is None else momentum
        values[name] = module.momentum
    return values


def dropout_sparsity(plans: Sequence[StagePlan], plan: StagePlan, epoch: int) -> float:
    """The sparsity s that scales dropout while ``plan`` trains its epoch ``epoch`` (0-based):
    the latest pruning target of the stage up to that epoch; for a stage that does not prune,
    the target the last pruning stage before it ended on (0 when none did)."""
    if plan.prunes:
        return plan.target_in_effect(epoch + 1)
    earlier = [p for p in plans if p.index < plan.index and p.prunes]
    return earlier[-1].target if earlier else 0.0


class StageSettings:
    """Applies a recipe's dropout rescaling and BatchNorm momentum stage by stage."""

    def __init__(self, recipe: Recipe, plans: Sequence[StagePlan], policy: LayerPolicy) -> None:
        self.exponent = recipe.model.dropout_exponent
        self.momentum = {i: s.bn_momentum for i, s in enumerate(recipe.stages)}
        self.plans = list(plans)
        self.policy = policy
        self.p_schedules = PSchedules(recipe, plans)  # Winograd adder layers' exponent

    def apply(self, model: nn.Module, plan: StagePlan, epoch: int) -> str:
        """Set dropout rates and BN momentum for ``plan``'s epoch ``epoch``; returns a log line
        ("" when the recipe asks for neither)."""
        notes = []
        momentum = self.momentum.get(plan.index)
        if momentum is not None or any(v is not None for v in self.momentum.values()):
            set_bn_momentum(model, momentum)  # also restores the built one after a set stage
            if momentum is not None:
                notes.append(f"BatchNorm momentum {momentum:g}")
        if self.exponent is not None:
            s = dropout_sparsity(self.plans, plan, epoch)
            first = first_conv(model)
            input_s = self.policy.layer_targets(model, s).get(first, 0.0) if first and s else 0.0
            rates = rescale_dropout(model, s, input_s, exponent=self.exponent)
            if rates:
                shown = ", ".join(f"{name} {p:.4f}" for name, p in rates.items())
                notes.append(f"dropout p0 (1 - s)^{self.exponent:g}: {shown}")
        if p_note := self.p_schedules.apply(model, plan, epoch):
            notes.append(p_note)
        return "; ".join(notes)
