"""Which folders a run's ``data.root`` may name: only those under the deployment's data roots
(``WINOPRUNE_DATA_ROOTS``), never another project's artifacts or any other path on the worker.
The check runs before anything under the path is opened, and its message tells nothing about
what the path holds."""

from __future__ import annotations

import os
from pathlib import Path

from server.config import Settings
from winoprune.recipes import Recipe


def allowed_data_roots(settings: Settings) -> list[Path]:
    """The configured data roots, resolved (default: ``<data_dir>/datasets``)."""
    roots = settings.data_roots or [settings.data_dir / "datasets"]
    return [Path(os.path.realpath(Path(root).expanduser())) for root in roots]


def check_data_root(recipe: Recipe, settings: Settings) -> None:
    """ValueError naming ``data.root`` unless it lies inside one of the allowed roots."""
    given = recipe.data.root
    if given is None:
        return
    path = Path(given).expanduser()
    roots = allowed_data_roots(settings)
    listed = ", ".join(str(root) for root in roots)
    if not path.is_absolute():
        raise ValueError(f"data.root: must be an absolute path under {listed}, got {given!r}")
    real = Path(os.path.realpath(path))  # symlinks and '..' cannot lead outside
    artifacts = Path(os.path.realpath(settings.artifacts_dir))
    inside = any(real == root or root in real.parents for root in roots)
    if not inside or real == artifacts or artifacts in real.parents:
        raise ValueError(
            f"data.root: {given} is not inside a data root of this deployment ({listed}); "
            "an administrator can add one with WINOPRUNE_DATA_ROOTS"
        )
