"""Per-layer targets from sensitivity curves: a global budget split to minimise predicted loss.

Each layer l has a measured curve of points ``(s_k, cost_k, resource_k)``: its Winograd-domain
sparsity, the predicted cost (validation loss, or accuracy drop) with that layer alone pruned
to ``s_k``, and the resource the point buys (zeroed weights ``numel_l * s_k`` for a sparsity
target, multiplications saved per image for a multiplication budget). The allocation picks one
point per layer so that ``sum_l resource_l >= R`` and the predicted cost ``sum_l (cost_l -
cost_l(0))`` (costs add: the layers are assumed to act independently) is smallest: a
multiple-choice knapsack.

``allocate_greedy`` walks the lower convex hulls of the curves in order of increasing slope
(cost per unit of resource), the classic solution of its LP relaxation; the last segment is
taken whole, so its cost exceeds the optimum by at most one hull segment. With convex curves
and equal resource steps it is exact. With ``exact=True`` the segment that crosses the budget
is taken only in part, its layer's target interpolated between the segment's two measured points
so that the budget is met exactly rather than overshot (the LP optimum; the predicted cost is
interpolated along the segment). ``allocate_brute_force`` enumerates every combination
(small problems only: the tests' reference).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

BRUTE_FORCE_LIMIT = 2_000_000
RELATIVE_SLACK = 1e-9  # sums of float resources: 0.1 * 12 may fall short of 1.2 by one ulp


def _reaches(resource: float, required: float) -> bool:
    return resource >= required - RELATIVE_SLACK * max(1.0, abs(required))


@dataclass(frozen=True)
class CurvePoint:
    """One measured point of a layer: target sparsity, cost, resource bought."""

    sparsity: float
    cost: float
    resource: float


@dataclass(frozen=True)
class Allocation:
    """Per-layer chosen points: ``targets`` {layer: sparsity}, predicted ``cost`` (sum of the
    layers' cost increases) and ``resource`` (sum of the resources of the chosen points)."""

    targets: dict[str, float]
    cost: float
    resource: float


def check_curves(curves: Mapping[str, Sequence[CurvePoint]]) -> None:
    """Each curve must be non-empty, finite, and contain its zero-resource start."""
    if not curves:
        raise ValueError("curves: no layers to allocate")
    for layer, points in curves.items():
        if not points:
            raise ValueError(f"curves[{layer!r}]: no points")
        for p in points:
            if not all(math.isfinite(v) for v in (p.sparsity, p.cost, p.resource)):
                raise ValueError(f"curves[{layer!r}]: non-finite point {p}")
        if min(p.resource for p in points) > 0:
            raise ValueError(f"curves[{layer!r}]: needs a point with zero resource (sparsity 0)")


def lower_hull(points: Sequence[CurvePoint]) -> list[CurvePoint]:
    """The lower convex hull of (resource, cost) from the cheapest zero-resource point on,
    keeping only points that buy more resource (Andrew's monotone chain, lower half)."""
    ordered = sorted(points, key=lambda p: (p.resource, p.cost))
    start = min((p for p in ordered if p.resource == ordered[0].resource), key=lambda p: p.cost)
    rest = [p for p in ordered if p.resource > start.resource]
    hull = [start]
    for p in rest:
        if p.resource == hull[-1].resource:
            continue
        while len(hull) >= 2 and _cross(hull[-2], hull[-1], p) <= 0:
            hull.pop()
        hull.append(p)
    # a segment that lowers the cost is always taken: keep the hull, the walk orders by slope
    return hull


def _cross(a: CurvePoint, b: CurvePoint, c: CurvePoint) -> float:
    return (b.resource - a.resource) * (c.cost - a.cost) - (b.cost - a.cost) * (
        c.resource - a.resource
    )


def _base_cost(points: Sequence[CurvePoint]) -> float:
    zero = [p for p in points if p.resource == min(q.resource for q in points)]
    return min(p.cost for p in zero)


def allocate_greedy(
    curves: Mapping[str, Sequence[CurvePoint]], required: float, exact: bool = False
) -> Allocation:
    """Cheapest hull segments first until ``sum resource >= required`` (``exact``: the crossing
    segment only in part, see the module docstring); ValueError when even every layer's last
    point does not reach it."""
    check_curves(curves)
    hulls = {layer: lower_hull(points) for layer, points in curves.items()}
    reachable = sum(h[-1].resource for h in hulls.values())
    if not _reaches(reachable, required):
        raise ValueError(
            f"target: needs {required:.6g} but the scanned grid reaches at most {reachable:.6g}"
        )
    chosen = {layer: 0 for layer in hulls}
    segments = []
    for layer, hull in hulls.items():
        for k in range(1, len(hull)):
            a, b = hull[k - 1], hull[k]
            segments.append(((b.cost - a.cost) / (b.resource - a.resource), layer, k))
    # convexity makes each layer's slopes increase, so sorting keeps every layer's order
    segments.sort(key=lambda item: (item[0], item[1], item[2]))
    resource = sum(h[0].resource for h in hulls.values())
    crossing: tuple[str, int] | None = None
    for slope, layer, k in segments:
        if _reaches(resource, required) and slope >= 0:
            break
        hull = hulls[layer]
        if not _reaches(resource, required) and slope >= 0:
            crossing = (layer, k)
        resource += hull[k].resource - hull[k - 1].resource
        chosen[layer] = k
    picks = {layer: hulls[layer][k] for layer, k in chosen.items()}
    if exact and crossing is not None and chosen[crossing[0]] == crossing[1]:
        layer, k = crossing
        picks[layer] = _part_of(hulls[layer][k - 1], hulls[layer][k], resource - required)
    return _allocation(curves, picks)


def _part_of(a: CurvePoint, b: CurvePoint, excess: float) -> CurvePoint:
    """The point on segment a-b that buys ``excess`` less resource than b."""
    if excess <= 0:
        return b
    f = max(0.0, 1.0 - excess / (b.resource - a.resource))
    return CurvePoint(
        round(a.sparsity + f * (b.sparsity - a.sparsity), 6),
        a.cost + f * (b.cost - a.cost),
        a.resource + f * (b.resource - a.resource),
    )


def allocate_brute_force(curves: Mapping[str, Sequence[CurvePoint]], required: float) -> Allocation:
    """The exact optimum by enumeration (at most BRUTE_FORCE_LIMIT combinations)."""
    check_curves(curves)
    layers = list(curves)
    count = math.prod(len(curves[layer]) for layer in layers)
    if count > BRUTE_FORCE_LIMIT:
        raise ValueError(f"curves: {count} combinations exceed {BRUTE_FORCE_LIMIT}")
    best: tuple[float, float, tuple[CurvePoint, ...]] | None = None
    for combo in itertools.product(*(curves[layer] for layer in layers)):
        resource = sum(p.resource for p in combo)
        if not _reaches(resource, required):
            continue
        cost = sum(p.cost for p in combo)
        if best is None or (cost, -resource) < (best[0], -best[1]):
            best = (cost, resource, combo)
    if best is None:
        raise ValueError(f"target: no combination reaches {required:.6g}")
    return _allocation(curves, dict(zip(layers, best[2], strict=True)))


def _allocation(
    curves: Mapping[str, Sequence[CurvePoint]], picks: Mapping[str, CurvePoint]
) -> Allocation:
    cost = sum(p.cost - _base_cost(curves[layer]) for layer, p in picks.items())
    return Allocation(
        {layer: p.sparsity for layer, p in picks.items()},
        cost,
        sum(p.resource for p in picks.values()),
    )


def max_segment_cost(curves: Mapping[str, Sequence[CurvePoint]]) -> float:
    """The largest cost rise of one hull segment: the greedy walk's worst-case excess."""
    rises = [
        max(0.0, h[k].cost - h[k - 1].cost)
        for h in (lower_hull(points) for points in curves.values())
        for k in range(1, len(h))
    ]
    return max(rises, default=0.0)
