"""Sensitivity allocation against brute force on synthetic curves."""

import random
from fractions import Fraction

import pytest

from winoprune.pruning.allocation import (
    CurvePoint,
    allocate_brute_force,
    allocate_greedy,
    lower_hull,
    max_segment_cost,
)
from winoprune.pruning.allocation_plan import plan_allocation

GRID = [i / 10 for i in range(10)]


def convex_curves(rng: random.Random, layers: int) -> dict[str, list[CurvePoint]]:
    curves = {}
    for i in range(layers):
        a, p = rng.uniform(0.1, 3.0), rng.uniform(1.5, 4.0)
        curves[f"l{i}"] = [CurvePoint(s, a * s**p, s) for s in GRID]  # equal resource steps
    return curves


@pytest.mark.parametrize("seed", range(8))
def test_greedy_equals_brute_force_on_convex_curves_with_equal_steps(seed):
    rng = random.Random(seed)
    curves = convex_curves(rng, 4)
    for required in (0.0, 0.4, 1.2, 2.0, 3.1, 3.6):
        greedy = allocate_greedy(curves, required)
        exact = allocate_brute_force(curves, required)
        assert greedy.resource >= required - 1e-12
        assert greedy.cost == pytest.approx(exact.cost, abs=1e-12)


@pytest.mark.parametrize("seed", range(10))
def test_greedy_is_feasible_and_within_one_segment_on_arbitrary_curves(seed):
    rng = random.Random(100 + seed)
    curves = {}
    for i in range(4):
        size = rng.choice([1.0, 2.5, 7.0])
        cost = [0.0, *sorted(rng.uniform(-0.05, 2.0) for _ in GRID[1:])]
        rng.shuffle(cost[1:3])  # non-monotone, non-convex
        curves[f"l{i}"] = [CurvePoint(s, c, size * s) for s, c in zip(GRID, cost, strict=True)]
    total = sum(c[-1].resource for c in curves.values())
    for fraction in (0.2, 0.55, 0.7, 0.9):
        required = fraction * total
        greedy = allocate_greedy(curves, required)
        exact = allocate_brute_force(curves, required)
        assert greedy.resource >= required - 1e-9
        assert exact.cost - 1e-12 <= greedy.cost <= exact.cost + max_segment_cost(curves) + 1e-12


@pytest.mark.parametrize("seed", range(6))
def test_exact_allocation_meets_the_budget_and_never_costs_more_than_the_whole_segment(seed):
    rng = random.Random(200 + seed)
    curves = {}
    for i in range(4):
        size = rng.choice([1.0, 2.5, 7.0])  # unequal steps: the whole walk overshoots
        a, p = rng.uniform(0.1, 3.0), rng.uniform(1.5, 4.0)
        curves[f"l{i}"] = [CurvePoint(s, a * s**p, size * s) for s in GRID]
    total = sum(c[-1].resource for c in curves.values())
    for fraction in (0.13, 0.41, 0.66, 0.87):
        required = fraction * total
        whole = allocate_greedy(curves, required)
        part = allocate_greedy(curves, required, exact=True)
        assert part.resource == pytest.approx(required, rel=1e-9)
        assert part.cost <= whole.cost + 1e-12
        assert part.cost <= allocate_brute_force(curves, required).cost + 1e-12  # LP bound
        changed = [layer for layer in curves if part.targets[layer] != whole.targets[layer]]
        assert len(changed) <= 1  # only the crossing segment's layer is split
        for layer in changed:  # inside the crossing segment (one grid step: convex curves)
            assert whole.targets[layer] - 0.1 - 1e-9 <= part.targets[layer] < whole.targets[layer]


def test_a_plan_between_grid_points_interpolates_its_prediction():
    result = scan_result()
    plan = plan_allocation(result, 0.61)
    numel = {"a": 100, "b": 300}
    overall = sum(numel[layer] * s for layer, s in plan.targets.items()) / 400
    assert overall == pytest.approx(0.61) and plan.achieved == pytest.approx(0.61)
    off_grid = [(layer, s) for layer, s in plan.targets.items() if s not in GRID]
    assert len(off_grid) == 1
    layer, s = off_grid[0]
    k = 4.0 if layer == "a" else 0.5
    lo, hi = max(g for g in GRID if g < s), min(g for g in GRID if g > s)
    line = k * lo * lo + (s - lo) / (hi - lo) * (k * hi * hi - k * lo * lo)
    others = sum((4.0 if n == "a" else 0.5) * t * t for n, t in plan.targets.items() if n != layer)
    assert plan.predicted_loss == pytest.approx(1 + others + line)
    whole = plan_allocation(result, 0.61, exact=False)
    assert whole.achieved > 0.61 + 1e-6 and whole.predicted_loss >= plan.predicted_loss


def test_lower_hull_is_convex_and_drops_dominated_points():
    points = [
        CurvePoint(s, c, s) for s, c in [(0, 0), (0.1, 0.5), (0.2, 0.2), (0.3, 0.9), (0.4, 1.0)]
    ]
    hull = lower_hull(points)
    assert [p.sparsity for p in hull] == [0, 0.2, 0.4]
    # exact rational slopes increase along the hull
    slopes = [
        Fraction(hull[k].cost - hull[k - 1].cost).limit_denominator()
        / Fraction(hull[k].resource - hull[k - 1].resource).limit_denominator()
        for k in range(1, len(hull))
    ]
    assert slopes == sorted(slopes)


def test_unreachable_target_names_the_field():
    curves = {"a": [CurvePoint(0, 0, 0), CurvePoint(0.5, 1, 0.5)]}
    with pytest.raises(ValueError, match="target"):
        allocate_greedy(curves, 0.6)
    with pytest.raises(ValueError, match="sparsity 0"):
        allocate_greedy({"a": [CurvePoint(0.5, 1, 0.5)]}, 0.1)


def scan_result():
    layers = [
        {"name": "a", "numel": 100, "mult_dense": 400},
        {"name": "b", "numel": 300, "mult_dense": 400},
    ]
    points = []
    for name, k in (("a", 4.0), ("b", 0.5)):
        for s in GRID:
            points.append(
                {
                    "layer": name,
                    "target": s,
                    "sparsity": s,
                    "loss": 1 + k * s * s,
                    "accuracy": 0.9 - 0.1 * k * s * s,
                    "mult_saved": int(400 * s),
                }
            )
    return {"layers": layers, "points": points, "baseline": {"loss": 1.0, "accuracy": 0.9}}


def test_plan_meets_sparsity_and_multiplication_budgets_and_prefers_the_robust_layer():
    result = scan_result()
    plan = plan_allocation(result, 0.6, exact=False)  # whole grid points
    assert plan.achieved >= 0.6
    numel = {"a": 100, "b": 300}
    overall = sum(numel[layer] * s for layer, s in plan.targets.items()) / 400
    assert overall == pytest.approx(plan.achieved)
    assert plan.targets["b"] > plan.targets["a"]
    mult = plan_allocation(result, 0.5, budget="multiplications", exact=False)
    saved = sum(int(400 * s) for s in mult.targets.values())
    assert saved / 800 >= 0.5
    # predictions add each layer's change to the baseline
    expect = 1 + sum((4.0 if layer == "a" else 0.5) * s * s for layer, s in plan.targets.items())
    assert plan.predicted_loss == pytest.approx(expect)
    with pytest.raises(ValueError, match="budget"):
        plan_allocation(result, 0.5, budget="flops")  # type: ignore[arg-type]


def test_a_recipe_naming_a_scan_file_resolves_to_explicit_overrides(tmp_path):
    import json

    from winoprune.recipes import parse_recipe
    from winoprune.recipes.allocation import resolve_from_file

    base = {"name": "r", "model": {"name": "digits-cnn"}, "method": "native-winograd",
            "init_checkpoint": "w.safetensors",
            "stages": [{"type": "native-winograd", "target": 0.6, "epochs": 1,
                        "optimizer": {"lr": 0.01}}]}  # fmt: skip
    plain = parse_recipe(base)
    (tmp_path / "scan.json").write_text(json.dumps(scan_result()))
    pending = parse_recipe({**base, "layers": {"allocation": "sensitivity", "scan": "scan.json"}})
    assert pending.sha256() != plain.sha256()
    assert "allocation" not in plain.canonical_json()  # unset fields keep old hashes
    resolved = resolve_from_file(pending, tmp_path)
    expected = plan_allocation(scan_result(), 0.6).targets
    assert resolved.layers.overrides == expected and resolved.layers.allocated_from == "scan.json"
    assert resolved.layers.allocation is None and resolved.layers.scan is None
    # the stored recipe is self-contained: parsing it again gives the same hash
    assert parse_recipe(json.loads(resolved.canonical_json())).sha256() == resolved.sha256()
    with pytest.raises(ValueError, match=r"layers\.scan"):
        resolve_from_file(pending, tmp_path / "elsewhere")
