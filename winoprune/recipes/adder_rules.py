"""Recipe parts of the adder models (AdderNet, Winograd AdderNet; ``winoprune.models.adder``):
the ``model.adder`` section, the ``p_schedule`` of a training phase, and their rules (``rules``
calls them; the same (path, message) form)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from winoprune.models import MODELS
from winoprune.recipes.fields import StrictModel, bounds, in_range, unset

Rules = list[tuple[str, str]]
ADDER_METHODS = ("dense",)  # adder layers are trained, not pruned (neither source prunes them)
Exponent = Annotated[float, in_range(1, 2), bounds(1, 2)]


class AdderSpec(StrictModel):
    """Adder-layer options (null: the default named here).

    - ``transform`` (Winograd adder only): ``balanced`` (default; AT's column signs flipped to
      equal row sums, our choice: Li et al.'s matrices are NOT FOUND) or ``standard`` Toom-Cook;
    - ``train_param`` (Winograd adder only): ``g`` (default, U = G g G^T) or ``U`` itself;
    - ``eta``: AdderNet's adaptive lr scaling ``grad * eta * sqrt(k) / ||grad||`` (0.2);
    - ``grad_mode``: ``addernet`` (default: full-precision weight, HardTanh input gradients) or
      ``exact`` (autograd of |.|).
    """

    transform: Literal["balanced", "standard"] | None = Field(default=None, exclude_if=unset)
    train_param: Literal["g", "U"] | None = Field(default=None, exclude_if=unset)
    eta: Annotated[float, in_range(0, 10, lo_open=True), bounds(0, 10, lo_open=True)] | None = (
        Field(default=None, exclude_if=unset)
    )
    grad_mode: Literal["addernet", "exact"] | None = Field(default=None, exclude_if=unset)

    def build_options(self) -> dict[str, Any]:
        """``build_model`` options (``models.adder``): the set ones only."""
        values = {
            "adder_transform": self.transform,
            "train_param": self.train_param,
            "eta": self.eta,
            "grad_mode": self.grad_mode,
        }
        return {k: v for k, v in values.items() if v is not None}


class PScheduleSpec(StrictModel):
    """The l2-to-l1 schedule of Winograd adder layers (Li et al. 2021; its exact form is NOT
    FOUND): in epoch e (0-based) of the phase's E epochs, ``p = start + (end - start) *
    min(1, e / (fraction * E))``, so linear from ``start`` to ``end`` over the first
    ``fraction`` of the phase, then held at ``end``; ``step``: ``start`` for e < fraction * E,
    then ``end`` (no fractional p: both halves run on cdist's fast p = 1 and p = 2 paths)."""

    name: Literal["linear", "step"] = "linear"
    start: Exponent = 2.0
    end: Exponent = 1.0
    fraction: Annotated[float, in_range(0, 1, lo_open=True), bounds(0, 1, lo_open=True)] = 0.5


def p_at(schedule: PScheduleSpec, epoch: int, epochs: int) -> float:
    """The exponent of epoch ``epoch`` (0-based) of a phase of ``epochs`` epochs."""
    ramp = schedule.fraction * max(epochs, 1)
    if schedule.name == "step":
        return schedule.start if epoch < ramp else schedule.end
    return schedule.start + (schedule.end - schedule.start) * min(1.0, epoch / ramp)


def adder_model_rules(model: Any) -> Rules:
    """model.adder belongs to adder models; transform and train_param to Winograd adder ones."""
    entry = MODELS.get(model.name)
    spec = getattr(model, "adder", None)
    if entry is None or spec is None:
        return []
    if entry.adder is None:
        return [("adder", f"only for adder models (e.g. digits-cnn-adder), not {model.name}")]
    if entry.adder == "adder":
        return [
            (f"adder.{key}", f"only for Winograd adder models (-wadder), not {model.name}")
            for key in ("transform", "train_param")
            if getattr(spec, key) is not None
        ]
    return []


def adder_rules(recipe: Any) -> Rules:
    """Adder models train with method dense; p_schedule only for Winograd adder models; their
    tile has r = 3."""
    entry = MODELS[recipe.model.name]
    rules: Rules = []
    phases = [("pretrain", recipe.pretrain)] if recipe.pretrain is not None else []
    phases += [(f"stages.{i}", stage) for i, stage in enumerate(recipe.stages)]
    if entry.adder != "winograd-adder":
        rules += [
            (
                f"{path}.p_schedule",
                f"only for Winograd adder models (-wadder), not {recipe.model.name}",
            )
            for path, phase in phases
            if getattr(phase, "p_schedule", None) is not None
        ]
    if entry.adder is None:
        return rules
    if recipe.method not in ADDER_METHODS:
        rules.append(
            (
                "method",
                f"{recipe.model.name} has adder layers, which are trained, not pruned: method "
                f"dense, got {recipe.method}",
            )
        )
    tf = recipe.transform()
    if entry.adder == "winograd-adder" and tf.r != 3:
        rules.append(("tile", f"Winograd adder layers are 3x3 convs: F(m,3), got {tf.name}"))
    return rules
