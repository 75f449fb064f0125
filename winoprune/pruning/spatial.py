"""Stage 1: spatial structured pruning whose zeros survive the Winograd transform.

``Q_ij = sum_{p,q} G_ip G_jq W_pq``, so ``Q_ij`` is exactly 0 when every weight in the group
``S_ij = supp(G[i, :]) x supp(G[j, :])`` is 0 (paper-spec section 2). The supports are read off
the transform's actual G; for Cook-Toom F(m, 3) they are {0}, {0,1,2}, ..., {0,1,2}, {2}, giving
corner groups (1 weight), edge groups (3) and the interior group (all 9 weights). A group's
importance is ``max |W|`` over it (L-inf); groups with importance < t are zeroed (OR-union over
positions) and t is bisected per layer so that the exact-zero fraction of ``G W' G^T`` (W' the
masked weights, float32) reaches the target.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from winoprune.pruning.bisection import (
    DEFAULT_MAX_ITERATIONS,
    DEFAULT_TOLERANCE,
    ThresholdSearch,
    bisect_threshold,
    candidate_thresholds,
)
from winoprune.winograd.functional import to_winograd
from winoprune.winograd.transforms import WinogradTransform, cook_toom

DEFAULT_TILE = 4  # F(4x4, r x r): the tile of the paper's experiments (paper-spec section 1)


@dataclass(frozen=True)
class LayerPruning:
    """One layer's pruning: mask (True = pruned, shape of the weight) and its threshold search."""

    mask: torch.Tensor
    threshold: float
    sparsity: float
    iterations: int

    @classmethod
    def from_search(cls, mask: torch.Tensor, search: ThresholdSearch) -> LayerPruning:
        return cls(mask, search.threshold, search.sparsity, search.iterations)


@dataclass(frozen=True)
class SpatialGroups:
    """The distinct groups S_ij of a transform.

    ``members`` (n_groups, r, r) bool: the spatial weights of each group;
    ``position_group`` (alpha, alpha) long: the group of each Winograd position.
    """

    members: torch.Tensor
    position_group: torch.Tensor

    @property
    def positions_per_group(self) -> torch.Tensor:
        """(n_groups,) number of Winograd positions that each group zeroes."""
        return torch.bincount(self.position_group.flatten(), minlength=self.members.shape[0])


def transform_for_kernel(r: int, transform: WinogradTransform | None = None) -> WinogradTransform:
    """``transform`` when it fits an r x r kernel, else F(transform.m, r) (default F(4, r))."""
    if transform is not None and transform.r == r:
        return transform
    return cook_toom(transform.m if transform is not None else DEFAULT_TILE, r)


def spatial_groups(tf: WinogradTransform) -> SpatialGroups:
    """Groups ``S_ij = supp(G[i,:]) x supp(G[j,:])`` from the nonzero pattern of G (exact)."""
    support = torch.tensor([[x != 0 for x in row] for row in tf.G_exact], dtype=torch.bool)
    distinct, row_kind = torch.unique(support, dim=0, return_inverse=True)
    n = distinct.shape[0]
    members = (distinct[:, None, :, None] & distinct[None, :, None, :]).reshape(n * n, tf.r, tf.r)
    position_group = row_kind[:, None] * n + row_kind[None, :]
    return SpatialGroups(members, position_group)


def group_importance(weight: torch.Tensor, groups: SpatialGroups) -> torch.Tensor:
    """(K, C, n_groups) float64: ``max |W_kc|`` over each group's weights (L-inf importance)."""
    k, c = weight.shape[:2]
    magnitude = weight.detach().abs().double().reshape(k, c, -1)
    members = groups.members.to(weight.device).reshape(groups.members.shape[0], -1)
    # one group at a time: a (K, C, n_groups, r*r) temporary is 170 MB for a 512x512 layer
    return torch.stack([magnitude[:, :, group].amax(dim=-1) for group in members], dim=-1)


def structured_mask(
    importance: torch.Tensor, groups: SpatialGroups, threshold: float
) -> torch.Tensor:
    """(K, C, r, r) bool: union of the groups whose importance < threshold (True = pruned)."""
    k, c, n = importance.shape
    pruned = (importance < threshold).double().reshape(k * c, n)
    members = groups.members.to(device=importance.device, dtype=torch.float64).reshape(n, -1)
    r = groups.members.shape[-1]
    return (pruned @ members > 0).reshape(k, c, r, r)


def winograd_zero_fraction(weight: torch.Tensor, tf: WinogradTransform) -> float:
    """Fraction of exact zeros of ``Q = G W G^T``, computed in the weight's dtype."""
    q = to_winograd(weight.detach(), tf)
    return float((q == 0).sum().item()) / max(q.numel(), 1)


def prune_spatial_structured(
    weight: torch.Tensor,
    tf: WinogradTransform,
    target: float,
    previous: torch.Tensor | None = None,
    tol: float = DEFAULT_TOLERANCE,
    max_iter: int = DEFAULT_MAX_ITERATIONS,
) -> LayerPruning:
    """Structured mask of a spatial weight (K, C, r, r) reaching a Winograd-domain sparsity.

    mask(t) = previous | union{S_ij of (k, c) : max_{S_ij} |W_kc| < t}; t is the smallest
    threshold with ``#(G (W * ~mask) G^T == 0) / (K C a a) >= target - tol``. Weights masked
    before count as 0 (so the masks of successive stages are nested). ``sparsity`` in the result
    is that Winograd-domain zero fraction. Beyond 20/36 (F(4,3)) only whole kernels add zeros.
    """
    _check_weight(weight, tf)
    groups = spatial_groups(tf)
    base = without_previous(weight, previous)
    importance = group_importance(base, groups)
    return bisect_zero_fraction(
        base,
        importance,
        lambda t: structured_mask(importance, groups, t),
        lambda masked: winograd_zero_fraction(masked, tf),
        target,
        previous,
        tol,
        max_iter,
    )


def without_previous(weight: torch.Tensor, previous: torch.Tensor | None) -> torch.Tensor:
    """The detached weight with the entries pruned before (``previous``, True = pruned) at 0."""
    base = weight.detach()
    if previous is not None:
        base = base.masked_fill(previous.to(base.device), 0.0)
    return base


def bisect_zero_fraction(
    base: torch.Tensor,
    scores: torch.Tensor,
    mask_for: Callable[[float], torch.Tensor],
    zero_fraction: Callable[[torch.Tensor], float],
    target: float,
    previous: torch.Tensor | None,
    tol: float,
    max_iter: int,
) -> LayerPruning:
    """Bisect a threshold on the zeros a mask leaves in another domain.

    ``mask(t) = previous | mask_for(t)`` (shape of ``base``, True = pruned); t is the smallest
    candidate of ``scores`` (``candidate_thresholds``) with
    ``zero_fraction(base * ~mask(t)) >= target - tol``, ``base`` the weight with ``previous``
    zeroed (``without_previous``). The result's ``sparsity`` is that fraction.
    """

    def mask_at(t: float) -> torch.Tensor:
        mask = mask_for(t)
        return mask | previous.to(mask.device) if previous is not None else mask

    def sparsity_at(t: float) -> float:
        return zero_fraction(base.masked_fill(mask_at(t), 0.0))

    search = bisect_threshold(sparsity_at, candidate_thresholds(scores), target, tol, max_iter)
    return LayerPruning.from_search(mask_at(search.threshold), search)


def _check_weight(weight: torch.Tensor, tf: WinogradTransform) -> None:
    if weight.dim() != 4 or tuple(weight.shape[2:]) != (tf.r, tf.r):
        raise ValueError(
            f"weight: expected a spatial weight (K, C, {tf.r}, {tf.r}) for {tf.name}, "
            f"got {tuple(weight.shape)}"
        )
