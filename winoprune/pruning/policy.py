"""Which conv layers a pruning stage prunes, and each one's sparsity target.

Paper-spec section 1 (authors' code): every pruned layer gets the stage's target, except the
first 3x3 conv (CIFAR conv0), which is held at a fixed 20 % Winograd sparsity; 1x1 convs, stride-2
convs and FC layers are neither Winograd layers nor pruned. ``LayerPolicy`` makes each of those
choices a setting.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from torch import nn

from winoprune.pruning.bisection import check_target
from winoprune.winograd.layers import WinogradConv2d, ineligibility

FirstLayerRule = Literal["fixed", "dense", "prune"]
FIRST_LAYER_RULES: tuple[FirstLayerRule, ...] = ("fixed", "dense", "prune")


def eligible(module: nn.Module, kernel_sizes: Sequence[int]) -> bool:
    """True for a WinogradConv2d with an r in kernel_sizes, or a convertible nn.Conv2d."""
    if isinstance(module, WinogradConv2d):
        return module.transform.r in kernel_sizes
    return isinstance(module, nn.Conv2d) and ineligibility(module, tuple(kernel_sizes)) is None


@dataclass(frozen=True)
class LayerPolicy:
    """Layer selection and per-layer targets (module names, fnmatch patterns).

    - Only eligible convs count: stride-1, square, kernel in ``kernel_sizes`` (3x3 by default),
      nn.Conv2d or WinogradConv2d. 1x1, strided, grouped and dilated convs are never pruned.
    - ``include`` (None = all) and ``exclude`` filter them by module name.
    - The first eligible conv in module order is held at ``first_layer_sparsity`` ("fixed"),
      kept dense ("dense") or pruned like the others ("prune").
    - ``overrides`` {pattern: target} win over all the above for the layers they match (first
      matching pattern in insertion order), except that excluded layers stay unpruned.
    """

    first_layer: FirstLayerRule = "fixed"
    first_layer_sparsity: float = 0.2
    include: Sequence[str] | None = None
    exclude: Sequence[str] = field(default_factory=tuple)
    overrides: Mapping[str, float] = field(default_factory=dict)
    kernel_sizes: Sequence[int] = (3,)

    def __post_init__(self) -> None:
        if self.first_layer not in FIRST_LAYER_RULES:
            raise ValueError(
                f"first_layer: must be one of {FIRST_LAYER_RULES}, got {self.first_layer!r}"
            )
        check_target(self.first_layer_sparsity, "first_layer_sparsity")
        for pattern, target in self.overrides.items():
            check_target(target, f"overrides[{pattern!r}]")
        for name in ("include", "exclude"):
            value = getattr(self, name)
            if isinstance(value, str):
                raise TypeError(f"{name}: must be a list of patterns, not a string")
        if not self.kernel_sizes or any(
            not isinstance(k, int) or isinstance(k, bool) or k < 2 for k in self.kernel_sizes
        ):
            raise ValueError(f"kernel_sizes: must be integers >= 2, got {self.kernel_sizes!r}")

    def eligible_layers(self, model: nn.Module) -> list[str]:
        """Names of the eligible convs, in module order (before include/exclude)."""
        return [n for n, m in model.named_modules() if eligible(m, self.kernel_sizes)]

    def layer_targets(self, model: nn.Module, stage_target: float) -> dict[str, float]:
        """{module name: target} of the layers pruned at a stage with target ``stage_target``.

        Layers left out (dense first layer, excluded, ineligible) are not in the result; the
        keys are the layers counted in the overall sparsity.
        """
        stage_target = check_target(stage_target, "stage_target")
        names = self.eligible_layers(model)
        first = names[0] if names else None
        targets: dict[str, float] = {}
        for name in names:
            if not self._selected(name):
                continue
            override = self._override(name)
            if override is not None:
                targets[name] = override
            elif name != first or self.first_layer == "prune":
                targets[name] = stage_target
            elif self.first_layer == "fixed":
                targets[name] = float(self.first_layer_sparsity)
        return targets

    def _selected(self, name: str) -> bool:
        if self.include is not None and not _matches(name, self.include):
            return False
        return not _matches(name, self.exclude)

    def _override(self, name: str) -> float | None:
        for pattern, target in self.overrides.items():
            if fnmatch.fnmatchcase(name, pattern):
                return float(target)
        return None


def _matches(name: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)
