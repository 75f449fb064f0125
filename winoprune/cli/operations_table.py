"""The per-layer operations table of report.html: multiplications, additions and the energy
estimate per image at the end of the last stage (``pruning.operations`` has the rules)."""

from __future__ import annotations

import html
from typing import Any

from winoprune.pruning.operations import ENERGY_SOURCE


def layer_operations(layers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per layer at the last recorded (stage, epoch): the row the model runs (its winograd row
    where it has one, else its spatial row), with multiplications, additions and energy."""
    if not layers:
        return []
    last = max((int(r["stage"]), int(r["epoch"])) for r in layers)
    here = [r for r in layers if (int(r["stage"]), int(r["epoch"])) == last]
    chosen: dict[str, dict[str, Any]] = {}
    for row in here:
        if row["layer"] not in chosen or row["domain"] == "winograd":
            chosen[row["layer"]] = row
    return list(chosen.values())


def _number(value: Any) -> str:
    if value in (None, ""):
        return "-"
    return f"{int(float(value)):,}"


def _nanojoules(value: Any) -> str:
    return "-" if value in (None, "") else f"{float(value) / 1e3:.1f}"


def operations_table(layers: list[dict[str, Any]]) -> str:
    """HTML table of ``layer_operations`` (energy in nJ), with its cost source."""
    rows = layer_operations(layers)
    if not rows:
        return ""
    body = "".join(
        "<tr>"
        f"<th>{html.escape(str(r['layer']))}</th><td>{html.escape(str(r['domain']))}</td>"
        f"<td>{_number(r.get('multiplications'))}</td><td>{_number(r.get('additions'))}</td>"
        f"<td>{_nanojoules(r.get('energy_pj'))}</td></tr>"
        for r in rows
    )
    return (
        '<h2>Operations per image</h2><table id="operations"><thead><tr><th>layer</th>'
        "<th>computed as</th><th>multiplications</th><th>additions</th><th>energy (nJ)</th>"
        f"</tr></thead><tbody>{body}</tbody></table>"
        f"<p>Energy estimate: {html.escape(ENERGY_SOURCE)} (arithmetic only).</p>"
    )
