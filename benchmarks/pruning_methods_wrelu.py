"""The Winograd-ReLU group of benchmarks/pruning_methods.py (issue 13, section 5):
``--methods wrelu``.

Liu et al.'s Winograd-domain ReLU (ICLR 2018) on VGG-nagadomi-wrelu width 0.25 on the CIFAR-10
copy, at F(2,3) (their tile) and F(4,3). Each tile has its own dense start, trained from scratch
in Winograd-ReLU form (``benchmarks/recipes/dense-pretrain-wrelu-<tile>.yaml``, trained once and
reused from ``--out``), and its own dense control (``dense-wrelu-<tile>``: the same stages,
epochs and lr schedule without pruning). Per row and stage it records top-1, the overall
Winograd sparsity, the activation density and two **multiplication reductions versus direct
convolution**: weights only (direct / nnz(Q)·tiles) and weights x activations (direct / products
with both factors nonzero, counted on the test set: Liu et al.'s count), both over the
Winograd-ReLU layers, which in this model are all its convs. Then, per tile, the highest of each
reduction whose top-1 is within 0.5, 1 and 2 pp of that tile's control.

    python benchmarks/pruning_methods.py --methods wrelu --quick
    python benchmarks/pruning_methods.py --methods wrelu --quick --train-subset 256 \\
        --test-subset 256 --pretrain-epochs 1 --stage-epochs 1    # a smoke run of minutes

Writes ``<out>/pruning_methods-wrelu[-<mode>].json`` and ``.html`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import pruning_methods as pm

from winoprune.recipes import Recipe

TILES = {"f23": "F(2,3)", "f43": "F(4,3)"}
CONTROLS = {tile: f"dense-wrelu-{tile}" for tile in TILES}
PRUNED = {tile: f"wrelu-{tile}" for tile in TILES}
PRETRAIN = {tile: f"dense-pretrain-wrelu-{tile}" for tile in TILES}
TOLERANCES_PP = (0.5, 1.0, 2.0)
# what each reduction divides the direct multiplications by
REDUCTIONS = {"weights": "mult_reduction", "activations": "activation_mult_reduction"}


def tile_of(name: str) -> str:
    """The tile key ("f23", "f43") of a group member's recipe name."""
    tile = name.rsplit("-", 1)[-1]
    if tile not in TILES:
        raise ValueError(f"--methods: {name} is not a Winograd-ReLU row")
    return tile


def wrelu_stage_rows(collector: pm.Collector, recipe: Recipe) -> list[dict[str, Any]]:
    """``pm.stage_rows`` plus the stage's multiplication totals, activation density and both
    reductions, and the activation density per layer."""
    rows = pm.stage_rows(collector, recipe)
    for index, row in enumerate(rows):
        report = collector.last[index]
        summary = report.summary
        for key in (
            "mult_direct",
            "mult_winograd_sparse",
            "mult_activation_sparse",
            "mult_reduction",
            "activation_mult_reduction",
            "activation_density",
        ):
            row[key] = summary.get(key)
        row["layers_activation_density"] = {
            r.layer: round(r.activation_density, 4)
            for r in report.layers
            if r.activation_density is not None
        }
    return rows


def best_within(
    stages: list[dict[str, Any]], reference: float, pp: float, key: str
) -> dict[str, float] | None:
    """The stage with the highest ``key`` (a reduction) whose top-1 is >= reference - pp
    points: that reduction and the stage's sparsity; None when no stage is that close."""
    ok = [s for s in stages if s["top1"] >= reference - pp / 100 - 1e-12 and s.get(key)]
    if not ok:
        return None
    best = max(ok, key=lambda s: s[key])
    return {"reduction": best[key], "winograd_sparsity": best["winograd_sparsity"]}


def summarise(methods: dict[str, dict[str, Any]]) -> dict[str, float]:
    """{tile: its control's final top-1}; every row gets ``reference_top1`` and, per tolerance
    and reduction kind, ``best_within_<pp>pp[kind]`` against its own tile's control."""
    references = {
        tile: methods[control]["stages"][-1]["top1"]
        for tile, control in CONTROLS.items()
        if control in methods
    }
    for name, result in methods.items():
        reference = references.get(tile_of(name))
        result["reference_top1"] = reference
        for pp in TOLERANCES_PP:
            result[f"best_within_{pp}pp"] = {
                kind: None
                if reference is None
                else best_within(result["stages"], reference, pp, key)
                for kind, key in REDUCTIONS.items()
            }
    return references


def times(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def markdown_table(methods: dict[str, dict[str, Any]], references: dict[str, float]) -> str:
    """Per row: final sparsity, top-1, activation density and both reductions, then the best
    reductions (weights / weights x activations, at their sparsity) within 0.5 / 1 / 2 pp."""
    within = [f"x within {pp:g} pp (weights / w x act.)" for pp in TOLERANCES_PP]
    head = "| Winograd-ReLU row | Winograd sparsity % | top-1 % | act. density % | "
    head += "x weights | x weights x act. | " + " | ".join(within) + " | wall s |\n"
    head += "|---|" + "---:|" * (6 + len(within)) + "\n"
    lines = []
    for name, r in methods.items():
        last = r["stages"][-1]
        cells = [
            pm.pct(last["winograd_sparsity"]),
            pm.pct(last["top1"]),
            pm.pct(last.get("activation_density")),
            times(last.get("mult_reduction")),
            times(last.get("activation_mult_reduction")),
        ]
        for pp in TOLERANCES_PP:
            best = r[f"best_within_{pp}pp"]
            weights, activations = best["weights"], best["activations"]
            if not weights and not activations:
                cells.append("-")
                continue
            parts = [
                "-" if not b else f"{times(b['reduction'])} ({pm.pct(b['winograd_sparsity'])} %)"
                for b in (weights, activations)
            ]
            cells.append(" / ".join(parts))
        lines.append(f"| `{name}` | {' | '.join(cells)} | {r['wall_seconds']:.0f} |")
    controls = [f"{TILES[t]} {pm.pct(top1)} %" for t, top1 in references.items()]
    note = f"\n\nDense controls (references): {', '.join(controls)}." if controls else ""
    return head + "\n".join(lines) + note


def reductions(result: dict[str, Any]) -> str:
    last = result["stages"][-1]
    return (
        f", {times(last['mult_reduction'])} (weights), "
        f"{times(last['activation_mult_reduction'])} (weights x activations)"
    )


def run_wrelu_group(
    names: list[str], mode: pm.Mode, data_dir: Path, args: argparse.Namespace, work: Path
) -> dict[str, Any]:
    """Per tile among ``names``: train (or reuse) its dense start, run its rows; then write the
    results files."""
    started = time.perf_counter()
    meta = pm.provenance(args.seed, args.threads)
    starts: dict[str, dict[str, Any]] = {}
    results: dict[str, dict[str, Any]] = {}
    for tile in dict.fromkeys(tile_of(n) for n in names):
        start = pm.dense_start(
            mode,
            data_dir,
            args.seed,
            args.out,
            work,
            PRETRAIN[tile],
            f"pruning_methods-wrelu-{tile}-dense",
        )
        starts[tile] = start
        print(f"{TILES[tile]} Winograd-ReLU dense start: top-1 {100 * start['top1']:.1f}%")
        # unless --fresh, a row finished before (<work>/<name>/result.json of the same recipe
        # and dense start) is reused, so an interrupted group resumes
        earlier: dict[str, Any] | None = None if args.fresh else {}
        rows = (n for n in names if tile_of(n) == tile)
        results.update(
            pm.run_methods(
                rows, mode, data_dir, args.seed, start, work, earlier, wrelu_stage_rows, reductions
            )
        )
    references = summarise(results)
    table = markdown_table(results, references)
    dense = {"dense_starts": starts, "dense_control_top1": references}
    title = f"Winograd-ReLU VGG-nagadomi 0.25, CIFAR-10 ({mode.name}, seed {args.seed})"
    path = pm.results_file(args.out, "pruning_methods-wrelu", mode)
    return pm.write_results(
        path, "pruning_methods-wrelu", mode, meta, dense, started, results, table, title, None
    )
