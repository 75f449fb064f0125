"""Resolving ``layers: {allocation: sensitivity, scan: ...}`` into explicit per-layer targets.

At submit time the scan's curves (``pruning.allocation_plan``) give every scanned layer the
target that reaches ``allocation_target`` (default: the largest stage target) as overall
Winograd sparsity with the least predicted validation loss; the recipe then holds them as
``layers.overrides`` with ``allocated_from`` naming the scan, and no longer refers to it: the
run is reproducible from its stored recipe alone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from winoprune.pruning.allocation_plan import plan_allocation
from winoprune.recipes.loading import parse_recipe
from winoprune.recipes.model import Recipe

MAX_SCAN_BYTES = 50 * 2**20


def needs_allocation(recipe: Recipe) -> bool:
    """True while the recipe still refers to a sensitivity scan."""
    return recipe.layers.allocation == "sensitivity"


def global_target(recipe: Recipe) -> float:
    """``allocation_target``, else the largest stage target; ValueError when there is none."""
    layers = recipe.layers
    if layers.allocation_target is not None:
        return float(layers.allocation_target)
    targets = [s.target for s in recipe.stages if s.target > 0]
    if not targets:
        raise ValueError("layers.allocation_target: needed when no stage has a target")
    return float(max(targets))


def _pattern(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[]" else c for c in name)


def resolve_allocation(recipe: Recipe, result: Mapping[str, Any], source: str) -> Recipe:
    """The recipe with the scan's per-layer targets as overrides (see the module docstring)."""
    if not needs_allocation(recipe):
        return recipe
    try:
        plan = plan_allocation(result, global_target(recipe))
    except (KeyError, TypeError) as exc:
        raise ValueError(
            f"layers.scan: {source} is not a sensitivity scan result ({exc})"
        ) from None
    except ValueError as exc:
        raise ValueError(f"layers.scan: {source}: {exc}") from None
    data = recipe.model_dump(mode="json")
    layers = data["layers"]
    for key in ("allocation", "scan", "allocation_target"):
        layers.pop(key, None)
    layers["overrides"] = {_pattern(name): s for name, s in sorted(plan.targets.items())}
    layers["allocated_from"] = source
    return parse_recipe(data)


def load_scan_file(path: Path) -> dict[str, Any]:
    """A scan's ``sensitivity.json``; ValueError naming ``layers.scan`` when unreadable."""
    if not path.is_file():
        raise ValueError(f"layers.scan: {path} is not a file")
    if path.stat().st_size > MAX_SCAN_BYTES:
        raise ValueError(f"layers.scan: {path} is larger than {MAX_SCAN_BYTES} bytes")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"layers.scan: {path} is not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"layers.scan: {path} is not a scan result")
    return data


def resolve_from_file(recipe: Recipe, base_dir: Path | None = None) -> Recipe:
    """Resolve a scan given as a file (relative paths: from ``base_dir``)."""
    if not needs_allocation(recipe):
        return recipe
    path = Path(str(recipe.layers.scan)).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    return resolve_allocation(recipe, load_scan_file(path), path.name)
