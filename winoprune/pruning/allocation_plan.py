"""From a scan's rows to per-layer targets: curves, budgets and the predicted curve.

A scan result is plain data (the JSON a scan writes, or the service's rows): ``layers`` [{name,
numel, mult_dense}], ``points`` [{layer, target, sparsity, accuracy, loss, multiplications,
mult_saved}] and ``baseline`` {accuracy, loss}. Two budgets:

- ``sparsity``: the overall Winograd sparsity of the scanned layers,
  ``sum_l numel_l s_l / sum_l numel_l >= target`` (resource of a point: ``numel_l * s``);
- ``multiplications``: the fraction of their dense Winograd multiplications saved,
  ``sum_l mult_saved_l / sum_l mult_dense_l >= target``.

The cost is the point's validation loss (``metric="loss"``) or its accuracy drop
(``metric="accuracy"``); predictions add the layers' changes to the baseline. By default the
budget is met exactly (``exact``): one layer's target may fall between two grid points, and its
predicted change is interpolated between them.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from winoprune.pruning.allocation import CurvePoint, allocate_greedy

Budget = Literal["sparsity", "multiplications"]
Metric = Literal["loss", "accuracy"]
BUDGETS: tuple[Budget, ...] = ("sparsity", "multiplications")
METRICS: tuple[Metric, ...] = ("loss", "accuracy")


@dataclass(frozen=True)
class Plan:
    """Per-layer ``targets``, the ``achieved`` global value and the predicted metrics."""

    targets: dict[str, float]
    achieved: float
    predicted_loss: float
    predicted_accuracy: float


def build_curves(
    layers: Sequence[Mapping[str, Any]], points: Sequence[Mapping[str, Any]], budget: Budget,
    metric: Metric,
) -> tuple[dict[str, list[CurvePoint]], float]:  # fmt: skip
    """{layer: curve} and the total resource (the denominator of the budget)."""
    if budget not in BUDGETS:
        raise ValueError(f"budget: must be one of {BUDGETS}, got {budget!r}")
    if metric not in METRICS:
        raise ValueError(f"metric: must be one of {METRICS}, got {metric!r}")
    sizes = {str(layer["name"]): layer for layer in layers}
    curves: dict[str, list[CurvePoint]] = {name: [] for name in sizes}
    for p in points:
        info = sizes.get(str(p["layer"]))
        if info is None:
            continue
        if budget == "sparsity":
            resource = float(info["numel"]) * float(p["sparsity"])
        else:
            resource = float(p["mult_saved"])
        cost = float(p["loss"]) if metric == "loss" else -float(p["accuracy"])
        curves[str(p["layer"])].append(CurvePoint(float(p["target"]), cost, resource))
    missing = [name for name, curve in curves.items() if not curve]
    if missing:
        raise ValueError(f"points: no points for layer {missing[0]!r}")
    for name, curve in curves.items():  # the dense start costs nothing: resource 0
        if min(c.resource for c in curve) > 0:
            raise ValueError(f"points: layer {name!r} has no point at sparsity 0")
    key = "numel" if budget == "sparsity" else "mult_dense"
    total = float(sum(float(info[key]) for info in sizes.values()))
    if total <= 0:
        raise ValueError(f"layers: total {key} is zero")
    return curves, total


def plan_allocation(
    result: Mapping[str, Any], target: float, budget: Budget = "sparsity",
    metric: Metric = "loss", exact: bool = True,
) -> Plan:  # fmt: skip
    """Per-layer targets reaching ``target`` (a fraction in [0, 1)) with the least predicted
    cost (``allocation.allocate_greedy``; ``exact``: met, not overshot); ValueError naming the
    field on bad input."""
    if not 0.0 <= float(target) < 1.0:
        raise ValueError(f"target: must be in [0, 1), got {target}")
    curves, total = build_curves(result["layers"], result["points"], budget, metric)
    allocation = allocate_greedy(curves, float(target) * total, exact=exact)
    return _plan(result, allocation.targets, allocation.resource / total)


def _plan(result: Mapping[str, Any], targets: dict[str, float], achieved: float) -> Plan:
    base = result["baseline"]
    loss, accuracy = float(base["loss"]), float(base["accuracy"])
    for layer, s in targets.items():
        point_loss, point_accuracy = _measured_at(result["points"], layer, s)
        loss += point_loss - float(base["loss"])
        accuracy += point_accuracy - float(base["accuracy"])
    return Plan(targets, achieved, loss, accuracy)


def _measured_at(points: Sequence[Mapping[str, Any]], layer: str, s: float) -> tuple[float, float]:
    """(loss, accuracy) of ``layer`` at target ``s``: the measured point, or the straight line
    between the two grid points around it."""
    row = sorted(
        (float(p["target"]), float(p["loss"]), float(p["accuracy"]))
        for p in points
        if str(p["layer"]) == layer
    )
    for target, loss, accuracy in row:
        if target == s:
            return loss, accuracy
    for lo, hi in itertools.pairwise(row):
        if lo[0] < s < hi[0]:
            f = (s - lo[0]) / (hi[0] - lo[0])
            return lo[1] + f * (hi[1] - lo[1]), lo[2] + f * (hi[2] - lo[2])
    raise KeyError(f"points: layer {layer!r} has no point at {s}")


def predicted_curve(
    result: Mapping[str, Any], targets: Sequence[float], budget: Budget = "sparsity",
    metric: Metric = "loss",
) -> list[dict[str, float]]:  # fmt: skip
    """The predicted accuracy and loss of the allocation at each global target (unreachable
    targets are left out)."""
    rows = []
    for target in targets:
        try:
            plan = plan_allocation(result, target, budget, metric)
        except ValueError:
            continue
        rows.append(
            {
                "target": float(target),
                "achieved": plan.achieved,
                "accuracy": plan.predicted_accuracy,
                "loss": plan.predicted_loss,
            }
        )
    return rows
