"""Baselines: native Winograd pruning (Li et al. 2017) and unstructured spatial pruning.

Native Winograd pruning prunes ``|Q| < t`` on Winograd layers converted from the dense model:
magnitude only, no importance factor and no gradient scaling (paper-spec 6a). Unstructured
spatial magnitude pruning prunes ``|W| < t``; its zeros "fill in" under ``Q = G W G^T``, because
``Q_ij`` is zero only when all of ``S_ij`` is zero, so 50 % spatial sparsity gives far less
Winograd sparsity. Its target can be read in either domain (``target_domain``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch

from winoprune.pruning.bisection import (
    DEFAULT_MAX_ITERATIONS,
    DEFAULT_TOLERANCE,
    threshold_for_scores,
)
from winoprune.pruning.spatial import (
    LayerPruning,
    bisect_zero_fraction,
    winograd_zero_fraction,
    without_previous,
)
from winoprune.winograd.transforms import WinogradTransform

TargetDomain = Literal["spatial", "winograd"]
TARGET_DOMAINS: tuple[TargetDomain, ...] = ("spatial", "winograd")


def prune_native_winograd(
    q: torch.Tensor,
    target: float,
    previous: torch.Tensor | None = None,
    tol: float = DEFAULT_TOLERANCE,
    max_iter: int = DEFAULT_MAX_ITERATIONS,
) -> LayerPruning:
    """Mask ``previous | (|Q| < t)`` of Winograd weights q (K, C, a, a), or a DWM layer's
    packed q (K, C, P); fraction >= target."""
    if q.dim() not in (3, 4):
        raise ValueError(
            f"weight: expected Winograd weights (K, C, a, a) or (K, C, P), got {tuple(q.shape)}"
        )
    mask, search = threshold_for_scores(q.detach().abs(), target, previous, tol, max_iter)
    return LayerPruning.from_search(mask, search)


def prune_spatial_unstructured(
    weight: torch.Tensor,
    tf: WinogradTransform,
    target: float,
    target_domain: TargetDomain = "winograd",
    previous: torch.Tensor | None = None,
    tol: float = DEFAULT_TOLERANCE,
    max_iter: int = DEFAULT_MAX_ITERATIONS,
) -> LayerPruning:
    """Mask ``previous | (|W| < t)`` of a spatial weight (K, C, r, r).

    ``target_domain="spatial"``: t reaches ``#mask / numel(W) >= target``; the result's
    ``sparsity`` is that spatial fraction. ``"winograd"``: t reaches
    ``#(G (W * ~mask) G^T == 0) / numel(Q) >= target`` (float32 exact zeros) and ``sparsity`` is
    that Winograd fraction. Either way ``winograd_zero_fraction`` gives the surviving zeros.
    """
    if target_domain not in TARGET_DOMAINS:
        raise ValueError(f"target_domain: must be one of {TARGET_DOMAINS}, got {target_domain!r}")
    if weight.dim() != 4 or tuple(weight.shape[2:]) != (tf.r, tf.r):
        raise ValueError(
            f"weight: expected a spatial weight (K, C, {tf.r}, {tf.r}), got {tuple(weight.shape)}"
        )
    return prune_magnitude(
        weight,
        target,
        target_domain,
        lambda masked: winograd_zero_fraction(masked, tf),
        previous,
        tol,
        max_iter,
    )


def prune_magnitude(
    weight: torch.Tensor,
    target: float,
    target_domain: str,
    zero_fraction: Callable[[torch.Tensor], float],
    previous: torch.Tensor | None = None,
    tol: float = DEFAULT_TOLERANCE,
    max_iter: int = DEFAULT_MAX_ITERATIONS,
) -> LayerPruning:
    """Mask ``previous | (|W| < t)`` of a spatial weight W (any shape), t reaching the spatial
    fraction ``#mask / numel(W) >= target`` (``target_domain="spatial"``) or, for any other
    value, ``zero_fraction(W * ~mask) >= target`` (the exact zeros of its Winograd weights)."""
    if target_domain == "spatial":
        magnitude = weight.detach().abs()
        mask, search = threshold_for_scores(magnitude, target, previous, tol, max_iter)
        return LayerPruning.from_search(mask, search)
    base = without_previous(weight, previous)
    return bisect_zero_fraction(
        base,
        base.abs(),
        lambda t: base.abs().double() < t,
        zero_fraction,
        target,
        previous,
        tol,
        max_iter,
    )
