"""The files of a local sensitivity scan: ``sensitivity.json`` (layers, baseline, points: the
input of allocation and of recipes' ``layers.scan``), ``sensitivity.csv`` (one row per point)
and ``sensitivity.html``, a small self-contained report (inline SVG, no scripts)."""

from __future__ import annotations

import csv
import html
import json
from pathlib import Path
from typing import Any

POINT_FIELDS = ("layer", "grid_index", "target", "sparsity", "accuracy", "loss",
                "multiplications", "mult_saved")  # fmt: skip
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2",
           "#17becf", "#7f7f7f", "#bcbd22")  # fmt: skip
W, H, PAD = 520, 300, 40


def write_outputs(result: dict[str, Any], out_dir: Path) -> list[Path]:
    """Write the three files into ``out_dir``; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"sensitivity.{ext}" for ext in ("json", "csv", "html")]
    paths[0].write_text(json.dumps(result, indent=1, sort_keys=True), encoding="utf-8")
    with paths[1].open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(POINT_FIELDS), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(result["points"])
    paths[2].write_text(report_html(result), encoding="utf-8")
    return paths


def _svg(result: dict[str, Any], x_key: str, x_label: str) -> str:
    points = result["points"]
    xs = [float(p[x_key]) for p in points] or [0.0]
    x_max = max(max(xs), 1e-9)
    lines, legend = [], []
    for i, layer in enumerate(info["name"] for info in result["layers"]):
        colour = COLOURS[i % len(COLOURS)]
        mine = sorted(
            (float(p[x_key]), float(p["accuracy"])) for p in points if p["layer"] == layer
        )
        coords = " ".join(
            f"{PAD + x / x_max * (W - 2 * PAD):.1f},{H - PAD - y * (H - 2 * PAD):.1f}"
            for x, y in mine
        )
        lines.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{coords}"/>'
        )
        legend.append(
            f'<text x="{W - PAD + 5}" y="{PAD + 14 * i}" fill="{colour}" font-size="11">'
            f"{html.escape(layer)}</text>"
        )
    axes = (
        f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - PAD}" y2="{H - PAD}" stroke="#333"/>'
        f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{H - PAD}" stroke="#333"/>'
        f'<text x="{W / 2}" y="{H - 8}" font-size="12" text-anchor="middle">{x_label}</text>'
        f'<text x="10" y="{PAD - 10}" font-size="12">accuracy (0..1)</text>'
        f'<text x="{W - PAD}" y="{H - PAD + 14}" font-size="11" text-anchor="end">'
        f"{x_max:.3g}</text>"
    )
    return (f'<svg width="{W + 150}" height="{H}" xmlns="http://www.w3.org/2000/svg">'
            f"{axes}{''.join(lines)}{''.join(legend)}</svg>")  # fmt: skip


def report_html(result: dict[str, Any]) -> str:
    """The report: both curves and the table of points."""
    base = result.get("baseline") or {}
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(p.get(k)))}</td>" for k in POINT_FIELDS) + "</tr>"
        for p in result["points"]
    )
    head = "".join(f"<th>{k}</th>" for k in POINT_FIELDS)
    title = html.escape(str(result.get("name", "sensitivity scan")))
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:2px 8px;font-size:12px}}</style>
</head><body><h1>{title}</h1>
<p>method {html.escape(str(result.get("method")))}; baseline accuracy
{float(base.get("accuracy", 0)):.4f}, loss {float(base.get("loss", 0)):.4f} (validation subset
of the training data)</p>
<h2>Accuracy against the layer's Winograd-domain sparsity</h2>{_svg(result, "sparsity", "sparsity")}
<h2>Accuracy against multiplications saved per image</h2>{_svg(result, "mult_saved", "mult saved")}
<h2>Points</h2><table><tr>{head}</tr>{rows}</table></body></html>
"""
