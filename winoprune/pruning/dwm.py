"""Pruning DWM layers (``winograd.dwm``): the paper's rules applied piece by piece.

A DWM layer's Winograd weight is the packed Q (K, C, P) of its pieces, so one threshold per
layer ranks every position of every piece (the layer's sparsity counts all pieces):

- spatial-structured: piece p's position (i, j) is exactly zero when every tap of its group
  ``S_ij = supp(G1[i, :]) x supp(G2[j, :])`` (mapped to the piece's taps of the full kernel) is
  zero. Pieces cover disjoint taps, so the groups of all pieces are disjoint unions; importance
  ``max |W|`` over the group, bisected on the exact-zero fraction of the packed Q.
- winograd-direct: prune ``|Q| * F_hat < t`` with the layer's factors
  (``DWMLayout.importance_factors``, one scale over all pieces).
- multiplications: per piece ``a1 * a2`` products per m x m output tile and (k, c) pair, over
  ``ceil(Ho / m) * ceil(Wo / m)`` tiles; sparse counts ``nnz(Q_piece)`` instead of K C a1 a2.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from winoprune.pruning.baselines import prune_magnitude
from winoprune.pruning.bisection import (
    DEFAULT_MAX_ITERATIONS,
    DEFAULT_TOLERANCE,
    threshold_for_scores,
)
from winoprune.pruning.spatial import (
    LayerPruning,
    SpatialGroups,
    bisect_zero_fraction,
    group_importance,
    without_previous,
)
from winoprune.pruning.winograd import importance_scores
from winoprune.winograd.dwm import DWMLayout


def dwm_groups(layout: DWMLayout) -> SpatialGroups:
    """The groups of all pieces: ``members`` (n_groups, kh, kw) over the full kernel and
    ``position_group`` (P,) the group of each packed position."""
    members: list[torch.Tensor] = []
    position_group: list[torch.Tensor] = []
    for piece in layout.pieces:
        rows = _supports(piece.transform.rows.G_exact)
        cols = _supports(piece.transform.cols.G_exact)
        distinct_r, kind_r = torch.unique(rows, dim=0, return_inverse=True)
        distinct_c, kind_c = torch.unique(cols, dim=0, return_inverse=True)
        base = len(members)
        for sr in distinct_r:
            for sc in distinct_c:
                full = torch.zeros(layout.kernel, dtype=torch.bool)
                taps = (sr[:, None] & sc[None, :]).nonzero()
                full[torch.tensor(piece.rows)[taps[:, 0]], torch.tensor(piece.cols)[taps[:, 1]]] = (
                    True
                )
                members.append(full)
        group = base + kind_r[:, None] * distinct_c.shape[0] + kind_c[None, :]
        position_group.append(group.flatten())
    return SpatialGroups(torch.stack(members), torch.cat(position_group))


def _supports(g_exact: tuple[tuple[object, ...], ...]) -> torch.Tensor:
    return torch.tensor([[x != 0 for x in row] for row in g_exact], dtype=torch.bool)


def dwm_structured_mask(
    importance: torch.Tensor, groups: SpatialGroups, threshold: float
) -> torch.Tensor:
    """(K, C, kh, kw) bool: union of the groups whose importance < threshold (True = pruned)."""
    k, c, n = importance.shape
    pruned = (importance < threshold).double().reshape(k * c, n)
    members = groups.members.to(device=importance.device, dtype=torch.float64).reshape(n, -1)
    return (pruned @ members > 0).reshape(k, c, *groups.members.shape[1:])


def dwm_zero_fraction(weight: torch.Tensor, layout: DWMLayout) -> float:
    """Fraction of exact zeros of the packed Q of a spatial weight, in the weight's dtype."""
    q = layout.to_winograd(weight.detach())
    return float((q == 0).sum().item()) / max(q.numel(), 1)


def _check_spatial(weight: torch.Tensor, layout: DWMLayout) -> None:
    if weight.dim() != 4 or tuple(weight.shape[2:]) != layout.kernel:
        raise ValueError(
            f"weight: expected a spatial weight (K, C, {layout.kernel[0]}, {layout.kernel[1]}) "
            f"for its DWM layout, got {tuple(weight.shape)}"
        )


def prune_dwm_spatial_structured(
    weight: torch.Tensor,
    layout: DWMLayout,
    target: float,
    previous: torch.Tensor | None = None,
    tol: float = DEFAULT_TOLERANCE,
    max_iter: int = DEFAULT_MAX_ITERATIONS,
) -> LayerPruning:
    """Structured mask of a spatial weight (K, C, kh, kw) reaching a DWM Winograd sparsity.

    mask(t) = previous | union{groups of (k, c) over all pieces : max |W_kc| < t}; t is the
    smallest threshold with ``#(packed Q of W * ~mask == 0) / (K C P) >= target - tol``.
    """
    _check_spatial(weight, layout)
    groups = dwm_groups(layout)
    base = without_previous(weight, previous)
    importance = group_importance(base, groups)
    return bisect_zero_fraction(
        base,
        importance,
        lambda t: dwm_structured_mask(importance, groups, t),
        lambda masked: dwm_zero_fraction(masked, layout),
        target,
        previous,
        tol,
        max_iter,
    )


def prune_dwm_spatial_unstructured(
    weight: torch.Tensor,
    layout: DWMLayout,
    target: float,
    target_domain: str = "winograd",
    previous: torch.Tensor | None = None,
    tol: float = DEFAULT_TOLERANCE,
    max_iter: int = DEFAULT_MAX_ITERATIONS,
) -> LayerPruning:
    """Mask ``previous | (|W| < t)`` with t reaching the spatial fraction (``"spatial"``) or the
    exact-zero fraction of the packed Q (``"winograd"``)."""
    _check_spatial(weight, layout)
    return prune_magnitude(
        weight,
        target,
        target_domain,
        lambda masked: dwm_zero_fraction(masked, layout),
        previous,
        tol,
        max_iter,
    )


def prune_dwm_direct(
    q: torch.Tensor,
    layout: DWMLayout,
    target: float,
    previous: torch.Tensor | None = None,
    tol: float = DEFAULT_TOLERANCE,
    max_iter: int = DEFAULT_MAX_ITERATIONS,
) -> LayerPruning:
    """Mask ``previous | (|Q| * F_hat < t)`` of a packed Q (K, C, P), F_hat over all pieces."""
    scores = importance_scores(q, layout.importance_factors())
    mask, search = threshold_for_scores(scores, target, previous, tol, max_iter)
    return LayerPruning.from_search(mask, search)


def dwm_winograd_mask(mask: torch.Tensor, layout: DWMLayout) -> torch.Tensor:
    """Spatial mask (K, C, kh, kw) -> packed Winograd mask (K, C, P): a position is pruned when
    every tap of its group is (``|G1| ~mask_piece |G2|^T == 0``)."""
    keep = (~mask.to(torch.bool)).double()
    parts = []
    for piece in layout.pieces:
        g1 = piece.transform.rows.G.abs().to(keep.device)
        g2 = piece.transform.cols.G.abs().to(keep.device)
        sub = keep[:, :, list(piece.rows)][:, :, :, list(piece.cols)]
        parts.append((g1 @ sub @ g2.T).flatten(2))
    return torch.cat(parts, dim=2) == 0


@dataclass(frozen=True)
class PieceStat:
    """One piece of a DWM layer: where it sits, its tile, and its multiplications per image."""

    piece: int
    phase: tuple[int, int]
    offset: tuple[int, int]
    kernel: tuple[int, int]
    tile: tuple[int, int]
    numel: int
    nnz: int
    sparsity: float
    mult_dense: int
    mult_sparse: int


def piece_stats(q: torch.Tensor, layout: DWMLayout, ho: int, wo: int) -> list[PieceStat]:
    """Per piece of a packed q (K, C, P) at output size (Ho, Wo): numel, nnz and the dense
    (``K C a1 a2 tiles``) and sparse (``nnz tiles``) multiplications,
    ``tiles = ceil(Ho / m) ceil(Wo / m)``."""
    tiles = -(-ho // layout.m) * -(-wo // layout.m)
    rows = []
    for index, (piece, qp) in enumerate(zip(layout.pieces, layout.piece_weights(q), strict=True)):
        nnz = int((qp != 0).sum().item())
        numel = qp.numel()
        rows.append(
            PieceStat(
                index,
                piece.phase,
                piece.offset,
                piece.kernel,
                piece.tile,
                numel,
                nnz,
                1 - nnz / max(numel, 1),
                numel * tiles,
                nnz * tiles,
            )
        )
    return rows
