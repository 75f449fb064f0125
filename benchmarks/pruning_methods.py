"""Issue 7, section 1: compare Winograd pruning methods on CIFAR-10 at one epoch budget.

VGG-nagadomi (width 0.25) with F(4,3) tiles, from one shared dense checkpoint (trained once by
``benchmarks/recipes/dense-pretrain.yaml`` and reused from ``--out`` when present); then every
method's recipe in ``benchmarks/recipes/`` runs through the project's own pipeline with
``init_checkpoint`` set to those weights and the same stages-times-epochs budget. A dense control
fine-tunes for the same number of epochs. Per method it records test top-1 and the overall
Winograd-domain sparsity after every stage, per-layer sparsity, wall time, and the highest
sparsity whose top-1 is within 0.5 and 1.0 percentage points of the dense control's.

    python benchmarks/pruning_methods.py --quick        # smoke run, ~6 min on 2 idle cores
    python benchmarks/pruning_methods.py                # ~1 hour
    python benchmarks/pruning_methods.py --methods dwm  # DWM ResNet-18 (pruning_methods_dwm.py)
    python benchmarks/pruning_methods.py --methods wrelu  # Winograd-ReLU (pruning_methods_wrelu.py)

Writes ``<out>/pruning_methods[-quick].json`` and ``.html`` (plotly: top-1 vs sparsity) and
prints a Markdown table. Benchmarks measure; they never assert.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tarfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
import yaml
from provenance import commit, dirty
from safetensors.torch import save_file

from winoprune.recipes import Recipe, parse_recipe
from winoprune.training import checkpoints as ckpt
from winoprune.training.pipeline import Callbacks, EpochReport, Pipeline
from winoprune.training.stages import StagePlan

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / "benchmarks" / "recipes"
ARCHIVE = Path("/work/shared/data/cifar10-jpg.tar.gz")
CACHE = Path("~/.cache/winoprune").expanduser()
STAIRCASE = (  # 8 stages of 2 epochs, one per target: top-1 at every sparsity
    "dense",
    "spatial-winograd",
    "native-winograd",
    "spatial-structured",
    "spatial-unstructured",
    "sw-precond",
    "sw-adam",
    "sw-auto",
    "sw-poly",
    "sw-precond-poly",
    "sw-precond-auto",
    "sw-layerwise",
    "ss-layerwise",
    "dense-kd",
    "ss-kd",
    "ss-layerwise-kd",
    "sw-kd",
    "ss-layerwise-kd-w05",
    "sw-kd-w05",
)
TARGETED = (  # the whole 16-epoch budget spent on one sparsity: a ramp, then fine-tuning there
    "dense-cos",
    "dense-cos-lr03",
    "dense-cos-lr05",
    "dense-cos-lr10",
    "t55-ss-lw",
    "t60-ss-lw",
    "t60-ss-lw-kd",
    "t55-ss-lw-lr03",
    "t60-ss-lw-lr03",
    "t60-ss-lw-lr03-r2",
    "t65-ss-lw-lr03",
    "t70-ss-lw-lr03",
    "t75-ss-lw-lr03",
    "t30-ss-lw-lr05",
    "t45-ss-lw-lr05",
    "t55-ss-lw-lr05",
    "t55-ss-lw-lr05-r6",
    "t55-ss-lr05",
    "t60-ss-lw-lr05",
    "t65-ss-lw-lr05",
    "t70-ss-lw-lr05",
    "t55-ss-lw-lr10",
    "t65-sw-lw-lr03",
    "t60-sw",
)
METHODS = STAIRCASE + TARGETED
# DWM ResNet-18 (torchvision layout, width 0.25), its own dense start and control; run and
# summarised apart (benchmarks/pruning_methods_dwm.py), not part of "all"
DWM = ("dense-dwm", "dwm-spatial-winograd", "dwm-spatial-structured")
# Winograd-domain ReLU (Liu et al.; VGG-nagadomi-wrelu width 0.25) at F(2,3) and F(4,3), each
# tile with its own dense start and control; run apart (benchmarks/pruning_methods_wrelu.py)
WRELU = ("dense-wrelu-f23", "wrelu-f23", "dense-wrelu-f43", "wrelu-f43")
# the dense controls; the reference for every tolerance is the best of them
CONTROLS = ("dense", "dense-cos", "dense-cos-lr03", "dense-cos-lr05", "dense-cos-lr10")
TOLERANCES_PP = (0.5, 1.0, 2.0, 3.0)


@dataclass(frozen=True)
class Mode:
    """Problem size of a run: data subsets, pretraining epochs, which recipe stages run."""

    name: str
    train_subset: int
    test_subset: int | None
    pretrain_epochs: int
    stages: tuple[int, ...] | None  # indices into each recipe's stages; None = all
    stage_epochs: int | None  # None = as in the recipe
    finder_steps: int | None  # cap on lr_finder.steps; None = as in the recipe


MODES = {
    "quick": Mode("quick", 2000, 2000, 15, (1, 3, 5), 2, 20),
    "full": Mode("full", 10000, None, 40, None, None, None),
}


# -- data, recipes ----------------------------------------------------------------------------
def ensure_data(data_dir: Path, archive: Path) -> Path:
    """Unpack the CIFAR-10 JPEG folders to ``data_dir`` (outside the repository) once."""
    data_dir = data_dir.expanduser().resolve()
    if (data_dir / "train").is_dir() and (data_dir / "test").is_dir():
        return data_dir
    if data_dir.is_relative_to(ROOT):
        raise SystemExit(f"--data-dir: {data_dir} is inside the repository; use one outside it")
    if not archive.is_file():
        raise SystemExit(f"--archive: {archive} not found")
    print(f"unpacking {archive} to {data_dir} ...", flush=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        tar.extractall(data_dir, filter="data")
    return data_dir


def load_raw(name: str) -> dict[str, Any]:
    data = yaml.safe_load((RECIPES / f"{name}.yaml").read_text())
    assert isinstance(data, dict)
    return data


def adapt(raw: dict[str, Any], mode: Mode, data_dir: Path, seed: int) -> dict[str, Any]:
    """The recipe for this run: data location and size, seed, the mode's stages and epochs."""
    data = {**raw, "seed": seed}
    data["data"] = {
        **raw["data"],
        "root": str(data_dir),
        "train_subset": mode.train_subset,
        "test_subset": mode.test_subset,
    }
    stages = raw.get("stages", [])
    if mode.stages is not None and len(stages) > max(mode.stages):  # a staircase recipe
        stages = [stages[i] for i in mode.stages]
    data["stages"] = [adapt_stage(s, mode) for s in stages]
    if data.get("pretrain"):
        data["pretrain"] = {**raw["pretrain"], "epochs": mode.pretrain_epochs}
    return data


def adapt_stage(stage: dict[str, Any], mode: Mode) -> dict[str, Any]:
    stage = dict(stage)
    if mode.stage_epochs is not None:
        stage["epochs"] = mode.stage_epochs
    if mode.finder_steps is not None and "lr_finder" in stage:
        finder = stage["lr_finder"]
        stage["lr_finder"] = {**finder, "steps": min(finder.get("steps", 40), mode.finder_steps)}
    return stage


# -- running ----------------------------------------------------------------------------------
class Collector(Callbacks):
    """Keeps the last report of every stage (per-layer sparsity included) and the log lines."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.last: dict[int, EpochReport] = {}
        self.curve: list[dict[str, float]] = []
        self.logs: list[str] = []

    def on_stage_start(self, plan: StagePlan) -> None:
        print(f"  [{self.name}] stage {plan.index} {plan.type} -> {plan.target}", flush=True)

    def on_epoch(self, report: EpochReport) -> None:
        self.last[report.stage] = report
        point = {"stage": report.stage, "epoch": report.epoch, "top1": report.metrics["top1"]}
        point["winograd_sparsity"] = report.summary["winograd_sparsity"]
        point["lr"] = report.metrics.get("lr", float("nan"))
        self.curve.append(point)
        print(
            f"  [{self.name}] stage {report.stage} epoch {report.epoch}: "
            f"top-1 {100 * point['top1']:.1f}%, "
            f"Winograd sparsity {100 * point['winograd_sparsity']:.1f}%",
            flush=True,
        )

    def on_log(self, message: str) -> None:
        self.logs.append(message)
        if "lr range test" in message:
            print(f"  [{self.name}] {message}", flush=True)


def run_recipe(recipe: Recipe, out: Path, name: str) -> tuple[Collector, float]:
    shutil.rmtree(out, ignore_errors=True)  # a benchmark run starts fresh (no resume)
    collector = Collector(name)
    started = time.perf_counter()
    result = Pipeline(recipe, out, collector).run()
    if result.status != "succeeded":
        raise RuntimeError(f"{name}: pipeline ended {result.status}")
    return collector, time.perf_counter() - started


def dense_start(
    mode: Mode,
    data_dir: Path,
    seed: int,
    out_dir: Path,
    work: Path,
    pretrain: str = "dense-pretrain",
    stem: str = "pruning_methods-dense",
) -> dict[str, Any]:
    """Train (or reuse) the shared dense checkpoint; returns its path, accuracy and timing."""
    recipe = parse_recipe(adapt(load_raw(pretrain), mode, data_dir, seed))
    weights = out_dir / f"{stem}-{mode.name}-seed{seed}.safetensors"
    info_file = weights.with_suffix(".json")
    if weights.is_file() and info_file.is_file():
        info = json.loads(info_file.read_text())
        if info.get("recipe_sha256") == recipe.sha256():
            print(f"reusing the dense checkpoint {weights}", flush=True)
            return {**info, "reused": True}
    print(f"pretraining the dense start point ({mode.pretrain_epochs} epochs)", flush=True)
    collector, seconds = run_recipe(recipe, work / pretrain, pretrain)
    _, path = ckpt.list_checkpoints(work / pretrain / "checkpoints")[-1]
    model = {k: v for k, v in ckpt.load_tensors(path).items() if k.startswith("model.")}
    save_file(model, str(weights))
    report = collector.last[-1]
    info = {
        "path": str(weights),
        "recipe_sha256": recipe.sha256(),
        "epochs": mode.pretrain_epochs,
        "top1": report.metrics["top1"],
        "seconds": round(seconds, 1),
    }
    info_file.write_text(json.dumps(info, indent=1))
    return {**info, "reused": False}


def stage_rows(collector: Collector, recipe: Recipe) -> list[dict[str, Any]]:
    rows = []
    for index, stage in enumerate(recipe.stages):
        report = collector.last[index]
        winograd = {r.layer: round(r.sparsity, 4) for r in report.layers if r.domain == "winograd"}
        spatial = {r.layer: round(r.sparsity, 4) for r in report.layers if r.domain == "spatial"}
        rows.append(
            {
                "stage": index,
                "type": stage.type,
                "target": stage.target,
                "top1": report.metrics["top1"],
                "winograd_sparsity": report.summary["winograd_sparsity"],
                "lr": report.metrics.get("lr"),
                "layers_winograd_sparsity": winograd,
                "layers_spatial_sparsity": spatial,
            }
        )
    return rows


def run_method(
    name: str,
    mode: Mode,
    data_dir: Path,
    seed: int,
    start: dict[str, Any],
    work: Path,
    earlier: dict[str, Any] | None,
    rows: Callable[[Collector, Recipe], list[dict[str, Any]]] = stage_rows,
):
    """One method's result; ``rows`` makes its stage rows from the collector. Unless
    ``--fresh`` (``earlier`` None), a result of the same recipe and dense start is reused: from
    ``<work>/<name>/result.json`` (so an interrupted comparison resumes), else from ``earlier``
    (the methods of the results file being replaced)."""
    raw = adapt(load_raw(name), mode, data_dir, seed)
    raw["init_checkpoint"] = start["path"]
    recipe = parse_recipe(raw)
    cached = work / name / "result.json"
    key = {"recipe_sha256": recipe.sha256(), "dense_start_sha256": start["recipe_sha256"]}
    if earlier is not None:
        candidates = [json.loads(cached.read_text())] if cached.is_file() else []
        candidates += [earlier[name]] if name in earlier else []
        for result in candidates:
            if {k: result.get(k) for k in key} == key:
                print(f"{name}: reusing its result from commit {result['commit'][:10]}")
                return {**result, "reused": True}
    print(f"{name}: {len(recipe.stages)} stages, {recipe.total_epochs()} epochs", flush=True)
    collector, seconds = run_recipe(recipe, work / name, name)
    result = {
        **key,
        "description": recipe.description,
        "commit": commit(),
        "epochs": recipe.total_epochs(),
        "wall_seconds": round(seconds, 1),
        "load_average_after": [round(v, 2) for v in os.getloadavg()],
        "stages": rows(collector, recipe),
        "curve": collector.curve,
        "lr_range_tests": [m for m in collector.logs if "lr range test" in m],
    }
    cached.write_text(json.dumps(result, indent=1))
    return {**result, "reused": False}


def wall_seconds(result: dict[str, Any]) -> str:
    return f" ({result['wall_seconds']:.0f} s)"


def run_methods(
    names: Iterable[str],
    mode: Mode,
    data_dir: Path,
    seed: int,
    start: dict[str, Any],
    work: Path,
    earlier: dict[str, Any] | None,
    rows: Callable[[Collector, Recipe], list[dict[str, Any]]] = stage_rows,
    detail: Callable[[dict[str, Any]], str] = wall_seconds,
) -> dict[str, dict[str, Any]]:
    """``run_method`` for each of ``names`` in order, by name; after each, a line with its
    final top-1 and Winograd sparsity and ``detail(result)``."""
    results: dict[str, dict[str, Any]] = {}
    for name in names:
        results[name] = result = run_method(name, mode, data_dir, seed, start, work, earlier, rows)
        last = result["stages"][-1]
        print(
            f"{name}: top-1 {100 * last['top1']:.1f}% at Winograd sparsity "
            f"{100 * last['winograd_sparsity']:.1f}%{detail(result)}",
            flush=True,
        )
    return results


def earlier_methods(path: Path, start: dict[str, Any]) -> dict[str, Any]:
    """The method results in an earlier results file whose dense start had the same recipe and
    reached the same top-1 (training on the CPU is deterministic), else none."""
    if not path.is_file():
        return {}
    earlier = json.loads(path.read_text())
    before = earlier.get("dense_start", {})
    same = {k: before.get(k) for k in ("recipe_sha256", "top1")} == {
        k: start[k] for k in ("recipe_sha256", "top1")
    }
    return earlier.get("methods", {}) if same else {}


# -- results ----------------------------------------------------------------------------------
def best_within(stages: list[dict[str, Any]], reference: float, pp: float) -> float | None:
    """Highest stage-end Winograd sparsity whose top-1 is >= reference - pp points."""
    ok = [s["winograd_sparsity"] for s in stages if s["top1"] >= reference - pp / 100 - 1e-12]
    return max(ok) if ok else None


def summarise(methods: dict[str, dict[str, Any]]) -> float | None:
    """The reference (the best dense control's final top-1), and each method's highest
    sparsity within every tolerance of it."""
    controls = [methods[c]["stages"][-1]["top1"] for c in CONTROLS if c in methods]
    reference = max(controls) if controls else None
    for result in methods.values():
        for pp in TOLERANCES_PP:
            key = f"max_sparsity_within_{pp}pp"
            value = best_within(result["stages"], reference, pp) if reference else None
            result[key] = value
    return reference


def pct(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{100 * value:.{digits}f}"


def markdown_tables(methods: dict[str, dict[str, Any]], reference: float | None) -> str:
    staircase = {n: r for n, r in methods.items() if n in STAIRCASE}
    targeted = {n: r for n, r in methods.items() if n in TARGETED}
    tables = [staircase_table(staircase)] if staircase else []
    tables += [targeted_table(targeted, reference)] if targeted else []
    control = "" if reference is None else f"\n\nDense control (reference): {pct(reference)} %."
    return "\n\n".join(tables) + control


def staircase_table(methods: dict[str, dict[str, Any]]) -> str:
    """Top-1 after every stage (columns: the stages' overall Winograd sparsity, which every
    method reaches to within 0.2 points), then the highest sparsity within each tolerance."""
    pruned = [r for r in methods.values() if r["stages"][-1]["winograd_sparsity"] > 0]
    stages = (pruned or list(methods.values()))[0]["stages"]
    sparsity = [f"{round(100 * s['winograd_sparsity'])} %" for s in stages]
    within = [f"max % within {pp:g} pp" for pp in TOLERANCES_PP]
    head = "| method | " + " | ".join([*sparsity, *within]) + " | wall s |\n"
    head += "|---|" + "---:|" * (len(sparsity) + len(within) + 1) + "\n"
    lines = []
    for name, r in methods.items():
        top1 = [pct(s["top1"]) for s in r["stages"]]
        best = [pct(r[f"max_sparsity_within_{pp}pp"]) for pp in TOLERANCES_PP]
        cells = " | ".join([*top1, *best, f"{r['wall_seconds']:.0f}"])
        lines.append(f"| `{name}` | {cells} |")
    return head + "\n".join(lines)


def targeted_table(methods: dict[str, dict[str, Any]], reference: float | None) -> str:
    """Final Winograd sparsity and top-1 of each targeted run, and its distance to the
    reference in percentage points."""
    head = "| targeted run | Winograd sparsity % | top-1 % | vs reference (pp) | wall s |\n"
    head += "|---|---:|---:|---:|---:|\n"
    lines = []
    for name, r in methods.items():
        last = r["stages"][-1]
        delta = "-" if reference is None else f"{100 * (last['top1'] - reference):+.1f}"
        cells = [pct(last["winograd_sparsity"]), pct(last["top1"]), delta]
        lines.append(f"| `{name}` | {' | '.join(cells)} | {r['wall_seconds']:.0f} |")
    return head + "\n".join(lines)


def write_html(path: Path, methods: dict[str, dict[str, Any]], reference: float | None, title: str):
    import plotly.graph_objects as go

    fig = go.Figure()
    for name, r in methods.items():
        xs = [100 * s["winograd_sparsity"] for s in r["stages"]]
        ys = [100 * s["top1"] for s in r["stages"]]
        mode = "markers" if name in TARGETED else "lines+markers"
        fig.add_trace(go.Scatter(x=xs, y=ys, mode=mode, name=name))
    if reference is not None:
        for pp, dash in ((0.0, "solid"), *((pp, "dot") for pp in TOLERANCES_PP)):
            label = "dense control" if pp == 0 else f"dense - {pp} pp"
            fig.add_hline(y=100 * reference - pp, line_dash=dash, annotation_text=label)
    fig.update_layout(
        title=title, xaxis_title="Winograd-domain sparsity (%)", yaxis_title="test top-1 (%)"
    )
    fig.write_html(str(path), include_plotlyjs=True, full_html=True)


def provenance(seed: int, threads: int) -> dict[str, Any]:
    return {
        "seed": seed,
        "commit": commit(),
        "dirty": dirty(),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "torch": torch.__version__,
            "threads": threads,
            "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
        },
    }


def results_file(out: Path, benchmark: str, mode: Mode) -> Path:
    """``<out>/<benchmark>[-<mode>].json``: no mode suffix for the full mode."""
    suffix = "" if mode.name == "full" else f"-{mode.name}"
    return out / f"{benchmark}{suffix}.json"


def write_results(
    path: Path,
    benchmark: str,
    mode: Mode,
    meta: dict[str, Any],
    dense: dict[str, Any],
    started: float,
    results: dict[str, dict[str, Any]],
    table: str,
    title: str,
    html_reference: float | None,
) -> dict[str, Any]:
    """Write a group's results file ``path`` (JSON: benchmark, mode, provenance ``meta``, the
    ``dense`` entries (its dense start(s) and control top-1), wall seconds since ``started``,
    the methods and the Markdown ``table``) and its HTML plot beside it; print the table."""
    payload = {
        "benchmark": benchmark,
        "mode": mode.__dict__,
        **meta,
        **dense,
        "wall_seconds_total": round(time.perf_counter() - started, 1),
        "methods": results,
        "table_markdown": table,
    }
    path.write_text(json.dumps(payload, indent=1))
    write_html(path.with_suffix(".html"), results, html_reference, title)
    print()
    print(table)
    return payload


# -- main -------------------------------------------------------------------------------------
def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smoke run: 2k images, 3 stages (~6 min)")
    p.add_argument("--data-dir", type=Path, default=CACHE / "cifar10-jpg")
    p.add_argument("--archive", type=Path, default=ARCHIVE)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    p.add_argument("--work-dir", type=Path, default=CACHE / "pruning-methods")
    p.add_argument(
        "--methods",
        default="all",
        help="comma-separated methods, or the groups staircase, targeted, all, dwm, wrelu",
    )
    p.add_argument("--seed", type=int, default=0)
    for flag, what in (
        ("--train-subset", "training images"),
        ("--test-subset", "test images"),
        ("--pretrain-epochs", "dense pretraining epochs"),
        ("--stage-epochs", "epochs per stage"),
    ):
        p.add_argument(flag, type=int, help=f"override the mode's {what} (a smaller smoke run)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument(
        "--fresh", action="store_true", help="rerun every method (default: reuse finished ones)"
    )
    return p.parse_args()


def expand_methods(spec: str) -> list[str]:
    """``--methods``: names and group names (staircase, targeted, all, dwm, wrelu), in order, no
    repeats."""
    groups = {"staircase": STAIRCASE, "targeted": TARGETED, "all": METHODS, "dwm": DWM}
    groups["wrelu"] = WRELU
    names = [m.strip() for m in spec.split(",") if m.strip()]
    if unknown := [m for m in names if m not in METHODS + DWM + WRELU and m not in groups]:
        known = ", ".join([*groups, *METHODS, *DWM, *WRELU])
        raise SystemExit(f"--methods: unknown {unknown}; known: {known}")
    expanded = (groups.get(m, (m,)) for m in names)
    return list(dict.fromkeys(m for group in expanded for m in group))


def mode_of(args: argparse.Namespace) -> Mode:
    """``--quick`` or full, with the size overrides given on the command line (then named
    ``<mode>-custom``, so that its files never replace a standard run's)."""
    mode = MODES["quick" if args.quick else "full"]
    changes = {
        key: getattr(args, key)
        for key in ("train_subset", "test_subset", "pretrain_epochs", "stage_epochs")
        if getattr(args, key, None) is not None
    }
    return replace(mode, name=f"{mode.name}-custom", **changes) if changes else mode


def main() -> None:
    args = parse_args()
    methods = expand_methods(args.methods)
    torch.set_num_threads(args.threads)
    mode = mode_of(args)
    data_dir = ensure_data(args.data_dir, args.archive)
    args.out.mkdir(parents=True, exist_ok=True)
    work = args.work_dir.expanduser() / f"{mode.name}-seed{args.seed}"
    if dwm := [m for m in methods if m in DWM]:
        from pruning_methods_dwm import run_dwm_group

        run_dwm_group(dwm, mode, data_dir, args, work)
        methods = [m for m in methods if m not in DWM]
        if not methods:
            return
    if wrelu := [m for m in methods if m in WRELU]:
        from pruning_methods_wrelu import run_wrelu_group

        run_wrelu_group(wrelu, mode, data_dir, args, work)
        methods = [m for m in methods if m not in WRELU]
        if not methods:
            return
    started = time.perf_counter()
    meta = provenance(args.seed, args.threads)
    start = dense_start(mode, data_dir, args.seed, args.out, work)
    print(f"dense start point: top-1 {100 * start['top1']:.1f}%", flush=True)
    path = results_file(args.out, "pruning_methods", mode)
    earlier = None if args.fresh else earlier_methods(path, start)
    results = run_methods(methods, mode, data_dir, args.seed, start, work, earlier)
    reference = summarise(results)
    table = markdown_tables(results, reference)
    dense = {"dense_start": start, "dense_control_top1": reference}
    title = f"Pruning methods, VGG-nagadomi 0.25, F(4,3), CIFAR-10 ({mode.name}, seed {args.seed})"
    write_results(
        path, "pruning_methods", mode, meta, dense, started, results, table, title, reference
    )


if __name__ == "__main__":
    main()
