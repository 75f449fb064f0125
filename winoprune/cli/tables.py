"""CLI tables: the per-stage result table of `winoprune run` (also for a run that was already
finished, from its metrics.jsonl), and printing a table at its full width (layer names are
never cut at 80 columns when the output is a pipe or a file)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from winoprune.cli.inspection import format_reduction
from winoprune.training.stages import StagePlan

STAGE_COLUMNS = (
    "stage", "type", "target", "top-1", "Winograd sparsity", "mult. reduction", "seconds",
)  # fmt: skip


def _pct(value: Any, digits: int) -> str:
    return "-" if value is None else f"{float(value):.{digits}%}"


def stage_rows(
    finished: list[dict[str, Any]], records: list[dict[str, Any]], plan: list[StagePlan]
) -> list[dict[str, Any]]:
    """The pipeline's rows of the stages it ran, else (nothing ran: the run was complete) one
    row per planned stage from its last recorded epoch (no seconds: they were not recorded)."""
    if finished:
        return finished
    last: dict[int, dict[str, Any]] = {}
    for record in records:
        last[int(record["stage"])] = record
    rows = []
    for stage in plan:
        if stage.index not in last:
            continue
        record = last[stage.index]
        rows.append(
            {
                "stage": stage.index,
                "type": stage.type,
                "target": stage.target or 0.0,
                "top1": record.get("top1"),
                "winograd_sparsity": record.get("winograd_sparsity"),
                "mult_reduction": record.get("mult_reduction"),
                "seconds": None,
            }
        )
    return rows


def stage_table(rows: list[dict[str, Any]]) -> Table:
    """The per-stage table."""
    table = Table(*STAGE_COLUMNS)
    for row in rows:
        seconds = row.get("seconds")
        table.add_row(
            str(row["stage"]),
            row["type"],
            f"{row['target']:.0%}",
            _pct(row.get("top1"), 2),
            _pct(row.get("winograd_sparsity"), 2),
            format_reduction(row.get("mult_reduction")),
            "-" if seconds is None else f"{seconds:.1f}",
        )
    return table


def print_wide(console: Console, table: Table) -> None:
    """Print ``table`` no narrower than it needs (a pipe or file gets 80 columns otherwise)."""
    unbounded = console.options.update_width(100_000)  # measure() alone caps at the width
    needed = Measurement.get(console, unbounded, table).maximum
    if needed <= console.width:
        console.print(table)
        return
    wide = Console(file=console.file, width=needed, soft_wrap=True, no_color=console.no_color)
    wide.print(table)
