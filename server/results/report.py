"""The HTML report of a service run: the same self-contained page `winoprune run` writes for
local runs (winoprune.cli.report), built from the run's stored metrics, layer rows and its
latest checkpoint's zero maps."""

from __future__ import annotations

import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from server.config import Settings
from server.db.models import Run
from server.results.patterns import NoCheckpoint, run_patterns
from server.results.service import export_rows
from winoprune.cli.report import write_report
from winoprune.recipes import parse_recipe
from winoprune.recipes.model import Recipe


def epoch_records(session: Session, run_id: int) -> list[dict[str, Any]]:
    """One dict per (stage, epoch) with every metric key, in order."""
    _, rows = export_rows(session, run_id, "metrics")
    records: dict[tuple[int, int], dict[str, Any]] = defaultdict(dict)
    for stage, epoch, key, value in rows:
        records[(stage, epoch)].update({"stage": stage, "epoch": epoch, key: value})
    return [records[k] for k in sorted(records)]


def layer_records(session: Session, run_id: int) -> list[dict[str, Any]]:
    """The run's layer rows as dicts (with mult_reduction)."""
    names, rows = export_rows(session, run_id, "layers")
    return [dict(zip(names, row, strict=True)) for row in rows]


def build_report(session: Session, settings: Settings, run: Run) -> str:
    """The report page's HTML."""
    recipe: Recipe = parse_recipe(run.recipe)
    try:
        body = run_patterns(session, settings, run.id, None, None)
        maps, pieces = body["layers"], body["pieces"]
    except NoCheckpoint:  # no checkpoint yet: the report has no zero maps
        maps, pieces = {}, {}
    with tempfile.TemporaryDirectory() as folder:
        path = write_report(
            Path(folder) / "report.html",
            f"winoprune run #{run.id}: {run.name}",
            epoch_records(session, run.id),
            layer_records(session, run.id),
            maps,
            recipe.transform(),
            recipe.to_yaml(),
            pieces,
        )
        return path.read_text(encoding="utf-8")
