"""Issue 17: sensitivity allocation against the uniform and the hand-chosen layer-wise one.

From the shared dense checkpoint of ``pruning_methods.py`` (VGG-nagadomi 0.25, CIFAR-10 JPEG
copy), one spatial-structured sensitivity scan (each layer alone pruned to every sparsity of a
grid, evaluated on ``--val-size`` images held out of the TRAINING subset) gives the per-layer
targets for each overall Winograd sparsity T; the allocation is chosen on that validation split
only, the test set is only reported. Three allocations get the same budget (one
spatial-structured stage pruned at once to its targets, then ``--epochs`` of SGD, lr 0.05):

- uniform: every eligible layer (the first included) at T;
- hand: the benchmarks' layer-wise rule, first conv 20 %, conv1-conv3 30 %, the rest at the stage
  target that makes the overall Winograd sparsity T;
- sensitivity: ``layers: {allocation: sensitivity}`` resolved from the scan (least predicted loss).

A dense control gets the same stage at target 0 (the same epochs and lr from the same start).
``--run-seeds`` repeats every row with other retraining seeds (data order, augmentation) from
the one dense start; the summary gives mean and sample standard deviation per row. The test
set is evaluated once per final configuration: nothing is chosen from it.

    cd benchmarks && python pruning_methods_sensitivity.py --quick   # reduced scale
    cd benchmarks && python pruning_methods_sensitivity.py --tiny --targets 0.65,0.7  # smaller
    cd benchmarks && python pruning_methods_sensitivity.py --grid-step 0.05 --run-seeds 0,1,2

Writes ``benchmarks/results/pruning_methods-sensitivity[-quick].json`` after every run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import torch
from provenance import commit
from pruning_methods import (
    ARCHIVE,
    CACHE,
    MODES,
    ROOT,
    Mode,
    adapt,
    dense_start,
    ensure_data,
    load_raw,
    run_recipe,
)

from winoprune.recipes import parse_recipe
from winoprune.recipes.allocation import resolve_allocation
from winoprune.training.sensitivity import ScanSpec, SensitivityScan

TINY = Mode("tiny", 1000, 1000, 6, None, None, None)  # for a loaded 2-core machine
HAND = {"features.conv1": 0.3, "features.conv2": 0.3, "features.conv3": 0.3}
FIRST_FIXED = 0.2


def base_recipe(
    mode: Any, data_dir: Path, seed: int, start: dict[str, Any], epochs: int, lr: float
) -> dict:
    raw = adapt(load_raw("t65-ss-lw-lr05"), mode, data_dir, seed)
    raw["init_checkpoint"] = start["path"]
    optimizer = {"name": "sgd", "lr": lr, "momentum": 0.9, "weight_decay": 5.0e-4}
    raw["stages"] = [{"type": "spatial-structured", "target": 0.5, "epochs": epochs,
                      "schedule": {"name": "cosine"}, "optimizer": optimizer}]  # fmt: skip
    raw["layers"] = {"first_layer": "prune"}
    return raw


def scan_result(raw: dict, val_size: int, grid: tuple[float, ...]) -> dict[str, Any]:
    recipe = parse_recipe(raw)
    spec = ScanSpec("spatial-structured", grid, val_size, batch_size=100, seed=recipe.seed)
    started = time.perf_counter()
    scan = SensitivityScan(recipe, spec, Path(str(recipe.init_checkpoint)))
    points = []
    for info in scan.layers:
        for p in scan.run_layer(info.name):
            points.append({**{k: v for k, v in p.__dict__.items() if k != "extra"}})
        print(f"  scanned {info.name}", flush=True)
    layers = [{"name": i.name, "numel": i.numel, "mult_dense": i.mult_dense} for i in scan.layers]
    return {"layers": layers, "baseline": scan.baseline(), "points": points,
            "seconds": round(time.perf_counter() - started, 1)}  # fmt: skip


def allocations(raw: dict, result: dict[str, Any], target: float) -> dict[str, dict]:
    numel = {layer["name"]: layer["numel"] for layer in result["layers"]}
    first = result["layers"][0]["name"]
    fixed = {first: FIRST_FIXED, **HAND}
    rest = sum(n for name, n in numel.items() if name not in fixed)
    stage = (target * sum(numel.values()) - sum(numel[k] * s for k, s in fixed.items())) / rest
    uniform = {**raw, "layers": {"first_layer": "prune"}}
    uniform["stages"] = [{**raw["stages"][0], "target": target}]
    hand = {**raw, "layers": {"first_layer": "fixed", "first_layer_sparsity": FIRST_FIXED,
                              "overrides": HAND}}  # fmt: skip
    hand["stages"] = [{**raw["stages"][0], "target": round(stage, 4)}]
    pending = {**raw, "layers": {"allocation": "sensitivity", "scan": "scan.json",
                                 "allocation_target": target}}  # fmt: skip
    pending["stages"] = [{**raw["stages"][0], "target": target}]
    sensitivity = resolve_allocation(parse_recipe(pending), result, "scan.json")
    return {"uniform": uniform, "hand": hand, "sensitivity": sensitivity.model_dump(mode="json")}


def dense_control(raw: dict) -> dict:
    """The same stage (epochs, lr, schedule) from the same start with nothing pruned."""
    return {**raw, "stages": [{**raw["stages"][0], "target": 0.0}]}


def summarise(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and sample standard deviation of test top-1 and sparsity per (allocation, target)."""
    rows: dict[tuple[str, float], list[dict[str, Any]]] = {}
    for run in runs:
        rows.setdefault((run["allocation"], run["target"]), []).append(run)
    out = []
    for (name, target), group in sorted(rows.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        top1 = [r["top1_test"] for r in group]
        sparsity = [r["winograd_sparsity"] for r in group]
        out.append({
            "allocation": name, "target": target, "seeds": [r["seed"] for r in group],
            "top1_mean": statistics.fmean(top1),
            "top1_std": statistics.stdev(top1) if len(top1) > 1 else None,
            "winograd_sparsity_mean": statistics.fmean(sparsity),
        })  # fmt: skip
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--tiny", action="store_true", help="1000 images, 6 pretraining epochs")
    p.add_argument("--targets", default="0.55,0.65,0.7,0.75")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--val-size", type=int, default=500)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--grid-step", type=float, default=0.1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--note", default="2 CPU cores shared with other jobs (loaded machine)")
    p.add_argument("--seed", type=int, default=0, help="seed of the dense start")
    p.add_argument("--run-seeds", default=None, help="retraining seeds: 0,1,2")
    p.add_argument("--data-dir", type=Path, default=CACHE / "cifar10-jpg")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    mode = TINY if args.tiny else MODES["quick" if args.quick else "full"]
    data_dir = ensure_data(args.data_dir, ARCHIVE)
    work = CACHE / "pruning-sensitivity" / f"{mode.name}-seed{args.seed}"
    work.mkdir(parents=True, exist_ok=True)
    start = dense_start(mode, data_dir, args.seed, args.out, work)
    raw = base_recipe(mode, data_dir, args.seed, start, args.epochs, args.lr)
    grid = tuple(round(args.grid_step * i, 4) for i in range(int(0.96 / args.grid_step) + 1))
    cached = work / f"scan-{args.val_size}-{args.grid_step}.json"  # the scan does not train
    if cached.is_file():
        result = json.loads(cached.read_text())
    else:
        result = scan_result(raw, args.val_size, grid)
        cached.write_text(json.dumps(result))
    out = args.out / f"pruning_methods-sensitivity-{mode.name}-lr{args.lr}-e{args.epochs}.json"
    report: dict[str, Any] = {
        "benchmark": "pruning_methods_sensitivity", "mode": mode.name, "commit": commit(),
        "dense_top1": start["top1"], "epochs": args.epochs, "lr": args.lr, "grid": list(grid),
        "val_size": args.val_size, "scan_seconds": result["seconds"], "scan": result,
        "note": args.note,
        "runs": [],
    }  # fmt: skip
    seeds = [int(s) for s in (args.run_seeds or str(args.seed)).split(",")]
    report["run_seeds"] = seeds
    plan: list[tuple[float, str, dict]] = [(0.0, "dense", dense_control(raw))]
    for target in (float(t) for t in args.targets.split(",")):
        plan += [(target, name, data) for name, data in allocations(raw, result, target).items()]
    for seed in seeds:
        for target, name, recipe_data in plan:
            tag = f"sens-{name}-{int(100 * target)}-s{seed}"
            recipe = parse_recipe({**recipe_data, "name": tag, "seed": seed})
            collector, seconds = run_recipe(recipe, work / tag, name)
            last = collector.last[0]
            report["runs"].append({
                "allocation": name, "target": target, "seed": seed,
                "top1_test": last.metrics["top1"],
                "winograd_sparsity": last.summary["winograd_sparsity"],
                "overrides": recipe.layers.overrides, "stage_target": recipe.stages[0].target,
                "wall_seconds": round(seconds, 1),
            })  # fmt: skip
            report["summary"] = summarise(report["runs"])
            report["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
            out.write_text(json.dumps(report, indent=1))
            print(f"{tag}: top-1 {last.metrics['top1']:.4f}, sparsity "
                  f"{last.summary['winograd_sparsity']:.4f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
