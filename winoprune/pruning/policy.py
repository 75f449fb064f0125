"""Which conv layers a pruning stage prunes, and each one's sparsity target.

Paper-spec section 1 (authors' code): every pruned layer gets the stage's target, except the
model's first conv (CIFAR conv0), which is held at a fixed 20 % Winograd sparsity; 1x1 convs,
stride-2 convs and FC layers are neither Winograd layers nor pruned. The "first layer" is the
model's first conv in module order, eligible or not: ResNet-18's 7x7 stride-2 ``conv1`` is never
pruned, so there ``first_layer`` changes nothing and all 16 3x3 convs are pruned. ``LayerPolicy``
makes each of those choices a setting.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from torch import nn

from winoprune.pruning.bisection import check_target
from winoprune.winograd.layers import WinogradConv2d, ineligibility, uses_dwm

FirstLayerRule = Literal["fixed", "dense", "prune"]
FIRST_LAYER_RULES: tuple[FirstLayerRule, ...] = ("fixed", "dense", "prune")


def eligible(module: nn.Module, kernel_sizes: Sequence[int], dwm: bool = False) -> bool:
    """True for a WinogradConv2d with an r in kernel_sizes, or a convertible nn.Conv2d; with
    ``dwm`` also for a DWMConv2d and any conv that can become one (``uses_dwm``)."""
    if isinstance(module, WinogradConv2d):
        return module.transform.r in kernel_sizes
    if dwm and uses_dwm(module, tuple(kernel_sizes)):
        return True
    return isinstance(module, nn.Conv2d) and ineligibility(module, tuple(kernel_sizes)) is None


def is_conv(module: nn.Module) -> bool:
    """True for any 2-D convolution layer: nn.Conv2d, WinogradConv2d, or a module that declares
    ``in_channels``, ``out_channels`` and ``kernel_size`` (the Winograd family's other layers)."""
    if isinstance(module, nn.Conv2d | WinogradConv2d):
        return True
    return all(hasattr(module, a) for a in ("in_channels", "out_channels", "kernel_size"))


def first_conv(model: nn.Module) -> str | None:
    """Name of the model's first conv in module order (eligible or not); None if it has none."""
    return next((name for name, m in model.named_modules() if is_conv(m)), None)


@dataclass(frozen=True)
class LayerPolicy:
    """Layer selection and per-layer targets (module names, fnmatch patterns).

    - Only eligible convs count: stride-1, square, kernel in ``kernel_sizes`` (3x3 by default),
      nn.Conv2d or WinogradConv2d. 1x1, strided, grouped and dilated convs are never pruned,
      except that with ``dwm`` every conv but grouped and dilated ones counts (DWM layers).
    - ``include`` (None = all) and ``exclude`` filter them by module name.
    - The model's first conv in module order (``first_conv``) is held at
      ``first_layer_sparsity`` ("fixed"), kept dense ("dense") or pruned like the others
      ("prune"). When that conv is not eligible (ResNet-18's 7x7 stride-2 conv1) the rule has
      nothing to act on: every eligible conv gets the stage target.
    - ``overrides`` {pattern: target} win over all the above for the layers they match (first
      matching pattern in insertion order), except that excluded layers stay unpruned.
    """

    first_layer: FirstLayerRule = "fixed"
    first_layer_sparsity: float = 0.2
    include: Sequence[str] | None = None
    exclude: Sequence[str] = field(default_factory=tuple)
    overrides: Mapping[str, float] = field(default_factory=dict)
    kernel_sizes: Sequence[int] = (3,)
    dwm: bool = False  # strided, 1x1 and other-kernel convs are DWM layers and pruned too

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
        return [n for n, m in model.named_modules() if eligible(m, self.kernel_sizes, self.dwm)]

    def layer_targets(self, model: nn.Module, stage_target: float) -> dict[str, float]:
        """{module name: target} of the layers pruned at a stage with target ``stage_target``.

        Layers left out (dense first layer, excluded, ineligible) are not in the result; the
        keys are the layers counted in the overall sparsity.
        """
        stage_target = check_target(stage_target, "stage_target")
        names = self.eligible_layers(model)
        first = first_conv(model)
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
