"""Per-layer threshold search: the smallest threshold whose sparsity reaches a target.

Every pruning rule here has the form ``prune where score < t`` (paper-spec sections 2-3), so the
layer's sparsity ``s(t)`` is a non-decreasing step function of ``t`` that can only change when
``t`` crosses one of the distinct scores. The authors' code bisects ``t`` on ``[0, max score]``
until ``|s(t) - target| <= tol`` (tolerance 1e-4, at most 100 iterations). We bisect over the
sorted distinct scores instead, which is the same bisection carried to its limit: it stops at the
smallest candidate threshold with ``s(t) >= target - tol`` after at most ``log2(n) + 1`` steps.
When sparsity jumps over the target (ties, whole groups), that is the smallest threshold whose
sparsity is at least the target, and the achieved value is reported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

DEFAULT_TOLERANCE = 1e-4
DEFAULT_MAX_ITERATIONS = 100


@dataclass(frozen=True)
class ThresholdSearch:
    """Result of a search: threshold t, sparsity s(t) and the number of evaluations of s."""

    threshold: float
    sparsity: float
    iterations: int


def check_target(target: float, name: str = "target") -> float:
    """Validate a sparsity target in [0, 1) and return it as a float."""
    if isinstance(target, bool) or not isinstance(target, int | float):
        raise TypeError(f"{name}: must be a number, got {type(target).__name__}")
    if not 0.0 <= float(target) < 1.0:
        raise ValueError(f"{name}: must be in [0, 1), got {target}")
    return float(target)


def candidate_thresholds(scores: torch.Tensor) -> torch.Tensor:
    """Thresholds at which ``s(t)`` can change, ascending (float64, 1-D).

    For the sorted distinct non-negative scores ``v_0 < ... < v_{n-1}`` the k-th candidate lies
    just above ``v_k`` (the midpoint to ``v_{k+1}``; above the largest, the next float up), so
    ``score < t_k`` prunes exactly the scores ``<= v_k``. Negative scores mark entries that are
    pruned already and need no threshold.
    """
    values = torch.unique(scores.detach().double().flatten())
    values = values[values >= 0]
    if values.numel() == 0:
        return values
    upper = torch.nextafter(values[-1:], torch.full_like(values[-1:], float("inf")))
    return torch.cat([(values[:-1] + values[1:]) / 2, upper])


def bisect_threshold(
    sparsity_at: Callable[[float], float],
    candidates: torch.Tensor,
    target: float,
    tol: float = DEFAULT_TOLERANCE,
    max_iter: int = DEFAULT_MAX_ITERATIONS,
) -> ThresholdSearch:
    """Smallest threshold t in ``{0} + candidates`` with ``sparsity_at(t) >= target - tol``.

    ``sparsity_at`` must be non-decreasing in t. ``candidates`` is ascending (see
    ``candidate_thresholds``). If ``max_iter`` runs out first, the smallest threshold seen that
    reaches the target is returned; if none does, the largest candidate.
    """
    target = check_target(target)
    if tol < 0:
        raise ValueError(f"tol: must be >= 0, got {tol}")
    if max_iter < 2:
        raise ValueError(f"max_iter: must be >= 2, got {max_iter}")
    goal = target - tol
    cache: dict[int, float] = {}

    def threshold(index: int) -> float:  # index 0 is t = 0, index i > 0 is candidates[i - 1]
        return float(candidates[index - 1]) if index > 0 else 0.0

    def evaluate(index: int) -> float:
        if index not in cache:
            cache[index] = float(sparsity_at(threshold(index)))
        return cache[index]

    # invariant: s(lo) < goal <= s(hi); the last candidate prunes everything, so it reaches it
    lo, hi = -1, candidates.numel()
    if evaluate(0) >= goal:
        hi = 0
    else:
        lo = 0
    while hi - lo > 1 and len(cache) < max_iter - 1:  # keep one evaluation for s(hi)
        mid = (lo + hi) // 2
        if evaluate(mid) >= goal:
            hi = mid
        else:
            lo = mid
    return ThresholdSearch(threshold(hi), evaluate(hi), len(cache))


def score_sparsity(scores: torch.Tensor, previous: torch.Tensor | None = None) -> torch.Tensor:
    """Scores with already-pruned entries (``previous`` True) set to -1, flattened, sorted.

    With these, ``s(t) = #(scores < t) / numel`` for any ``t >= 0`` is one ``searchsorted``.
    """
    flat = scores.detach().double().flatten()
    if previous is not None:
        flat = flat.masked_fill(previous.to(flat.device).flatten(), -1.0)
    return torch.sort(flat).values


def threshold_for_scores(
    scores: torch.Tensor,
    target: float,
    previous: torch.Tensor | None = None,
    tol: float = DEFAULT_TOLERANCE,
    max_iter: int = DEFAULT_MAX_ITERATIONS,
) -> tuple[torch.Tensor, ThresholdSearch]:
    """Mask ``previous | (scores < t)`` (True = pruned) whose pruned fraction reaches the target.

    The fraction counts every pruned entry, those pruned before included: ``s(t) =
    #(previous | scores < t) / numel``. Returns the mask (shape of ``scores``) and the search.
    """
    if previous is not None and previous.shape != scores.shape:
        raise ValueError(
            f"previous: mask shape {tuple(previous.shape)} does not match {tuple(scores.shape)}"
        )
    ordered = score_sparsity(scores, previous)
    numel = max(ordered.numel(), 1)

    def sparsity_at(t: float) -> float:
        probe = torch.tensor([t], dtype=torch.float64, device=ordered.device)
        below = torch.searchsorted(ordered, probe)
        return int(below.item()) / numel

    search = bisect_threshold(sparsity_at, candidate_thresholds(ordered), target, tol, max_iter)
    mask = scores.detach().double() < search.threshold
    if previous is not None:
        mask |= previous.to(mask.device)
    return mask, search
