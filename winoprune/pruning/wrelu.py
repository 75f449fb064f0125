"""Liu et al.'s Winograd-domain magnitude pruning (ResNet-18-var/prune_script.py:22-31, 63-78).

Per Winograd layer, keep the ``int(numel * density)`` entries of ``|Q * old_mask|`` with the
largest magnitude and zero the rest (``density = 1 - target``, the same for every layer): plain
magnitude, no importance factor, no bisection. Computing it on ``Q * old_mask`` makes the masks
nested (they only shrink); previously pruned entries are pruned first, whatever Q holds there.
"""

from __future__ import annotations

import math

import torch

from winoprune.pruning.bisection import ThresholdSearch, check_target
from winoprune.pruning.spatial import LayerPruning

# int(numel * density) in the authors' code; the epsilon keeps e.g. 10 * (1 - 0.9) at 1, not 0
_FLOOR_EPS = 1e-9


def kept_entries(numel: int, target: float) -> int:
    """How many entries survive: ``floor(numel * (1 - target))`` (the code's int(numel*density))."""
    target = check_target(target)
    return min(numel, math.floor(numel * (1.0 - target) + _FLOOR_EPS))


def prune_top_magnitude(
    q: torch.Tensor, target: float, previous: torch.Tensor | None = None
) -> LayerPruning:
    """Mask (True = pruned) of Winograd weights q (K, C, a, a) that keeps the ``kept_entries``
    largest ``|Q|`` outside ``previous``.

    When ``previous`` already prunes more than ``numel - kept`` entries, the mask is
    ``previous`` (masks never grow back). Ties at the boundary go to the lower flat index (a
    stable sort), so the count is exact. ``threshold`` is the smallest kept magnitude (0 when
    nothing is kept); ``sparsity`` the pruned fraction.
    """
    if q.dim() != 4:
        raise ValueError(f"weight: expected Winograd weights (K, C, a, a), got {tuple(q.shape)}")
    if previous is not None and previous.shape != q.shape:
        raise ValueError(
            f"previous: mask shape {tuple(previous.shape)} differs from the weight's "
            f"{tuple(q.shape)}"
        )
    numel = q.numel()
    scores = q.detach().abs().double().flatten()
    if previous is not None:
        old = previous.to(scores.device, torch.bool).flatten()
        scores = scores.masked_fill(old, -1.0)  # below every magnitude: pruned first
        alive = int((~old).sum().item())
    else:
        alive = numel
    keep = min(kept_entries(numel, target), alive)
    order = torch.sort(scores, descending=True, stable=True).indices
    mask = torch.ones(numel, dtype=torch.bool, device=scores.device)
    mask[order[:keep]] = False
    threshold = float(scores[order[keep - 1]].item()) if keep else 0.0
    search = ThresholdSearch(threshold, (numel - keep) / max(numel, 1), 1)
    return LayerPruning.from_search(mask.view(q.shape).to(q.device), search)
