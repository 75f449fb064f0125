"""The DWM group of benchmarks/pruning_methods.py (issue 13, section 5): ``--methods dwm``.

ResNet-18 in torchvision's layout at width 0.25 on the CIFAR-10 copy with ``layers.dwm``: every
conv is a Winograd layer (stride-1 3x3 convs F(2,3), the 7x7/2 conv1, the stride-2 3x3 and the
1x1/2 downsample convs DWM layers of F(2, r_i) pieces) and every conv is pruned. The group has its
own dense start (``benchmarks/recipes/dense-pretrain-dwm.yaml``, trained once and reused from
``--out``) and its own dense control (``dense-dwm``: dense fine-tuning with the same stages,
epochs and lr schedule as the methods). Per method it records top-1, the overall Winograd
sparsity and the **multiplication reduction versus direct convolution** (direct / sparse
Winograd multiplications over all convs) after every stage, and the highest reduction (and
sparsity) whose top-1 is within 0.5, 1 and 2 pp of the control's.

    python benchmarks/pruning_methods.py --methods dwm --quick
    python benchmarks/pruning_methods.py --methods dwm --quick --train-subset 256 \\
        --test-subset 256 --pretrain-epochs 1 --stage-epochs 1    # a smoke run of minutes

Writes ``<out>/pruning_methods-dwm[-<mode>].json`` and ``.html`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import pruning_methods as pm

from winoprune.recipes import Recipe

CONTROLS = ("dense-dwm",)
PRETRAIN = "dense-pretrain-dwm"
TOLERANCES_PP = (0.5, 1.0, 2.0)


def dwm_stage_rows(collector: pm.Collector, recipe: Recipe) -> list[dict[str, Any]]:
    """``pm.stage_rows`` plus the stage's multiplication totals and their reduction."""
    rows = pm.stage_rows(collector, recipe)
    for index, row in enumerate(rows):
        summary = collector.last[index].summary
        row["mult_direct"] = summary.get("mult_direct")
        row["mult_winograd_sparse"] = summary.get("mult_winograd_sparse")
        row["mult_reduction"] = summary.get("mult_reduction")
        layers = collector.last[index].layers
        row["layers_mult_reduction"] = {
            r.layer: None if r.mult_reduction is None else round(r.mult_reduction, 3)
            for r in layers
            if r.domain == "winograd"
        }
    return rows


def best_reduction_within(
    stages: list[dict[str, Any]], reference: float, pp: float
) -> dict[str, float] | None:
    """The stage with the highest multiplication reduction whose top-1 is >= reference - pp
    points: its reduction and sparsity; None when no stage is that close."""
    ok = [s for s in stages if s["top1"] >= reference - pp / 100 - 1e-12 and s["mult_reduction"]]
    if not ok:
        return None
    best = max(ok, key=lambda s: s["mult_reduction"])
    return {
        "mult_reduction": best["mult_reduction"],
        "winograd_sparsity": best["winograd_sparsity"],
    }


def summarise(methods: dict[str, dict[str, Any]]) -> float | None:
    """The reference (the DWM control's final top-1) and every method's best reduction within
    each tolerance of it."""
    controls = [methods[c]["stages"][-1]["top1"] for c in CONTROLS if c in methods]
    reference = max(controls) if controls else None
    for result in methods.values():
        for pp in TOLERANCES_PP:
            found = best_reduction_within(result["stages"], reference, pp) if reference else None
            result[f"best_within_{pp}pp"] = found
    return reference


def markdown_table(methods: dict[str, dict[str, Any]], reference: float | None) -> str:
    """Per method: final sparsity, top-1 and reduction, then the best reduction (at its
    sparsity) within 0.5 / 1 / 2 pp of the control."""
    within = [f"x within {pp:g} pp" for pp in TOLERANCES_PP]
    head = "| DWM method | Winograd sparsity % | top-1 % | mult. reduction | "
    head += " | ".join(within) + " | wall s |\n"
    head += "|---|" + "---:|" * (4 + len(within)) + "\n"
    lines = []
    for name, r in methods.items():
        last = r["stages"][-1]
        cells = [pm.pct(last["winograd_sparsity"]), pm.pct(last["top1"]), times(last)]
        for pp in TOLERANCES_PP:
            best = r.get(f"best_within_{pp}pp")
            cells.append(
                "-" if not best else f"{times(best)} ({pm.pct(best['winograd_sparsity'])} %)"
            )
        lines.append(f"| `{name}` | {' | '.join(cells)} | {r['wall_seconds']:.0f} |")
    control = (
        "" if reference is None else f"\n\nDWM dense control (reference): {pm.pct(reference)} %."
    )
    return head + "\n".join(lines) + control


def times(row: dict[str, Any]) -> str:
    value = row.get("mult_reduction")
    return "-" if value is None else f"{value:.2f}x"


def fewer_mults(result: dict[str, Any]) -> str:
    return f", {times(result['stages'][-1])} fewer multiplications"


def run_dwm_group(
    names: list[str], mode: pm.Mode, data_dir: Path, args: argparse.Namespace, work: Path
) -> dict[str, Any]:
    """Train (or reuse) the DWM dense start, run ``names``, write the results files."""
    started = time.perf_counter()
    meta = pm.provenance(args.seed, args.threads)
    start = pm.dense_start(
        mode, data_dir, args.seed, args.out, work, PRETRAIN, "pruning_methods-dwm-dense"
    )
    print(f"DWM dense start point: top-1 {100 * start['top1']:.1f}%", flush=True)
    path = pm.results_file(args.out, "pruning_methods-dwm", mode)
    earlier = None if args.fresh else pm.earlier_methods(path, start)
    results = pm.run_methods(
        names, mode, data_dir, args.seed, start, work, earlier, dwm_stage_rows, fewer_mults
    )
    reference = summarise(results)
    table = markdown_table(results, reference)
    dense = {"dense_start": start, "dense_control_top1": reference}
    title = f"DWM ResNet-18 0.25, CIFAR-10 ({mode.name}, seed {args.seed})"
    return pm.write_results(
        path, "pruning_methods-dwm", mode, meta, dense, started, results, table, title, reference
    )
