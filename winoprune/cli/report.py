"""A self-contained HTML report of a run (plotly.js inlined, works offline).

Charts: test accuracy per epoch across all stages with the stage boundaries marked; per-layer
Winograd-domain sparsity and multiplication reduction versus direct convolution (direct / sparse
Winograd multiplications) at the end of every stage; and, per layer, the alpha x alpha map of the
fraction of zeros at each Winograd position beside the importance-factor matrix.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from winoprune.cli.operations_table import operations_table
from winoprune.winograd.importance import importance_factors
from winoprune.winograd.transforms import WinogradTransform


def dedupe_epochs(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Keep the last record of every (stage, epoch): a resumed run may repeat one."""
    by_key = {(r["stage"], r["epoch"]): r for r in records}
    return [by_key[k] for k in sorted(by_key)]


def accuracy_figure(records: list[dict[str, Any]]) -> go.Figure:
    x = list(range(len(records)))
    fig = go.Figure()
    fig.add_scatter(x=x, y=[r["top1"] for r in records], name="test top-1", mode="lines+markers")
    if any("train_top1" in r for r in records):
        fig.add_scatter(
            x=x, y=[r.get("train_top1") for r in records], name="train top-1", mode="lines"
        )
    for i in range(1, len(records)):
        if records[i]["stage"] != records[i - 1]["stage"]:
            fig.add_vline(x=i - 0.5, line_dash="dot", line_color="grey")
    fig.update_layout(
        title="Accuracy per epoch (dotted lines: stage boundaries)",
        xaxis_title="epoch (all stages)",
        yaxis_title="accuracy",
        yaxis_tickformat=".0%",
    )
    return fig


def stage_end_rows(layers: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    """The Winograd-domain layer rows of each stage's last epoch, by stage (ascending)."""
    last_epoch: dict[int, int] = {}
    for row in layers:
        last_epoch[row["stage"]] = max(last_epoch.get(row["stage"], 0), row["epoch"])
    return {
        stage: [
            r
            for r in layers
            if r["stage"] == stage and r["epoch"] == last_epoch[stage] and r["domain"] == "winograd"
        ]
        for stage in sorted(last_epoch)
    }


def layer_sparsity_figure(layers: list[dict[str, Any]]) -> go.Figure:
    """Grouped bars: Winograd-domain sparsity per layer, one trace per stage (its last epoch)."""
    fig = go.Figure()
    for stage, rows in stage_end_rows(layers).items():
        fig.add_bar(
            x=[r["layer"] for r in rows],
            y=[r["sparsity"] for r in rows],
            name=stage_name(stage),
            text=[f"{100 * float(r['sparsity']):.1f}%" for r in rows],
        )
    fig.update_layout(
        title="Winograd-domain sparsity per layer at the end of each stage",
        barmode="group",
        yaxis_tickformat=".0%",
        yaxis_range=[0, 1],
    )
    return fig


def layer_reduction_figure(layers: list[dict[str, Any]]) -> go.Figure:
    """Grouped bars: multiplication reduction versus direct convolution per layer (direct /
    sparse Winograd), one trace per stage (its last epoch); layers without one are left out."""
    fig = go.Figure()
    for stage, stage_rows in stage_end_rows(layers).items():
        rows = [r for r in stage_rows if r.get("mult_reduction") not in (None, "")]
        fig.add_bar(
            x=[r["layer"] for r in rows],
            y=[float(r["mult_reduction"]) for r in rows],
            name=stage_name(stage),
            text=[f"{float(r['mult_reduction']):.2f}x" for r in rows],
        )
    fig.update_layout(
        title="Multiplication reduction versus direct convolution per layer (x fewer)",
        barmode="group",
        yaxis_title="direct / sparse Winograd",
    )
    return fig


def headline(record: dict[str, Any]) -> str:
    """One line: the final overall Winograd sparsity beside the multiplication reduction."""
    if not record:
        return "no epochs recorded"
    reduction = record.get("mult_reduction")
    shown = "-" if reduction is None else f"{reduction:.2f}x"
    return (
        f"Winograd-domain sparsity {record.get('winograd_sparsity', 0.0):.2%}; multiplication "
        f"reduction versus direct convolution {shown} (all conv layers)"
    )


def stage_name(stage: int) -> str:
    """A stage's label in charts: "pretrain" for -1, else "stage N"."""
    return "pretrain" if int(stage) == -1 else f"stage {stage}"


PERCENT_KEYS = ("top1", "top5", "train_top1", "sparsity", "density", "target")


def format_value(key: str, value: Any) -> str:
    """A final-epoch value for people: percentages, "x fewer", grouped integers, 4 digits."""
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if key == "stage":
        return stage_name(int(value))
    if any(part in key for part in PERCENT_KEYS):
        return f"{100 * value:.2f} %"
    if "reduction" in key:
        return f"{value:.2f}x"
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:.4g}"


def final_table(record: dict[str, Any]) -> str:
    """The final epoch's values as an HTML table, formatted."""
    rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(format_value(str(k), v))}</td></tr>"
        for k, v in record.items()
    )
    return f'<table id="final-epoch"><tbody>{rows}</tbody></table>'


def pattern_figure(layer: str, pattern: list[list[float]], tf: WinogradTransform) -> go.Figure:
    from plotly.subplots import make_subplots

    fig = make_subplots(
        rows=1, cols=2, subplot_titles=("fraction of zeros", "importance factor F_hat")
    )
    f_hat = importance_factors(tf).tolist()
    fig.add_heatmap(
        z=pattern,
        zmin=0,
        zmax=1,
        colorscale="Blues",
        row=1,
        col=1,
        text=[[f"{round(100 * v)}%" for v in row] for row in pattern],
        texttemplate="%{text}",
        colorbar={"x": 0.45, "len": 0.9, "tickformat": ".0%", "title": {"text": "zeros"}},
    )
    fig.add_heatmap(
        z=f_hat,
        colorscale="Oranges",
        row=1,
        col=2,
        text=[[f"{v:.3g}" for v in row] for row in f_hat],
        texttemplate="%{text}",
        colorbar={"x": 1.0, "len": 0.9, "title": {"text": "F_hat"}},
    )
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(title=f"{layer}: zeros per Winograd position ({tf.name})", height=360)
    return fig


def piece_pattern_figure(layer: str, pieces: list[dict[str, Any]]) -> go.Figure:
    """A DWM layer: one a1 x a2 zero map per piece, titled with its kernel, offset and phase."""
    from plotly.subplots import make_subplots

    cols = min(3, len(pieces))
    rows = -(-len(pieces) // cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[p["label"] for p in pieces])
    for i, piece in enumerate(pieces):
        text = [[f"{round(100 * v)}%" for v in row] for row in piece["zeros"]]
        fig.add_heatmap(
            z=piece["zeros"],
            text=text,
            texttemplate="%{text}",
            zmin=0,
            zmax=1,
            colorscale="Blues",
            showscale=False,
            row=i // cols + 1,
            col=i % cols + 1,
        )
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(
        title=f"{layer}: zeros per Winograd position of each DWM piece", height=60 + 260 * rows
    )
    return fig


def write_report(
    path: Path,
    title: str,
    records: list[dict[str, Any]],
    layers: list[dict[str, Any]],
    patterns: dict[str, list[list[float]]],
    tf: WinogradTransform,
    recipe_yaml: str,
    pieces: dict[str, list[dict[str, Any]]] | None = None,
) -> Path:
    """Write the HTML report to ``path`` and return it. ``pieces``: per DWM layer its piece
    maps (``pruning.zero_maps.piece_zero_maps``), drawn per piece instead of its packed row."""
    records = dedupe_epochs(records)
    pieces = pieces or {}
    figures = [accuracy_figure(records), layer_sparsity_figure(layers)]
    figures.append(layer_reduction_figure(layers))
    figures += [
        piece_pattern_figure(name, pieces[name]) if name in pieces else pattern_figure(name, p, tf)
        for name, p in patterns.items()
    ]
    divs = "\n".join(f.to_html(full_html=False, include_plotlyjs=False) for f in figures)
    summary = final_table(records[-1] if records else {})
    summary += operations_table(layers)  # multiplications, additions, energy per layer
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<script>{get_plotlyjs()}</script>
<style>body{{font-family:system-ui,sans-serif;margin:2rem;max-width:1200px}}
pre{{background:#f4f4f4;padding:1rem;overflow:auto}}
table{{border-collapse:collapse}}
td,th{{padding:.2rem .8rem;border-bottom:1px solid #ddd;text-align:left}}
td{{font-variant-numeric:tabular-nums}}</style></head>
<body><h1>{html.escape(title)}</h1>
<h2>Final epoch</h2><p id="headline">{html.escape(headline(records[-1] if records else {}))}</p>
{summary}
{divs}
<h2>Recipe</h2><pre>{html.escape(recipe_yaml)}</pre>
</body></html>"""
    path.write_text(page, encoding="utf-8")
    return path
