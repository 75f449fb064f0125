"""Sparse-Winograd inference speed of VGG-nagadomi (full width) on the CPU.

For batch 1 and 32 and torch.set_num_threads(THREADS), times in ONE interleaved loop (so load
from other processes hits every variant alike): oneDNN ``F.conv2d`` (the export's op chain with
every Winograd layer as a dense 3x3 conv, batch norm folded alike), the training-time dense
Winograd model (WinogradConv2d, eval, no_grad), the runtime on the 0 % export (``runtime-dense``:
its automatic choice, the compiled kernel where it builds; ``runtime-dense-torch``: the PyTorch
batched GEMM), and the runtime on exports pruned to 55 / 70 / 80 / 90 % Winograd sparsity with the
project's own methods: ``prune_model(..., "spatial-structured")`` on the nn.Conv2d model
(kernel-level zeros) and ``prune_model(..., "winograd-direct")`` after ``convert_model``
(unstructured). The models are random-init (the pruning functions run on them exactly as in a
pipeline stage; speed depends on the zero pattern, not on accuracy). For batch 32 every
sparse export is also timed with each PyTorch product strategy forced (dense, compact, csr):
the fallback's thresholds are set from it. Writes
benchmarks/results/sparse_inference.json and prints a Markdown table.

    python benchmarks/sparse_inference.py [--quick] [--threads 2] [--repeats 5]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
from provenance import commit, dirty
from winograd_layer import machine

from winoprune.models import build_model
from winoprune.pruning import prune_model
from winoprune.runtime import SparseModel, export_model, load_export, native
from winoprune.runtime.conv import STRATEGIES
from winoprune.runtime.speed import conv2d_twin
from winoprune.winograd.layers import convert_model
from winoprune.winograd.transforms import cook_toom

TARGETS = [0.0, 0.55, 0.7, 0.8, 0.9]
TORCH_STRATEGIES = [s for s in STRATEGIES if s != "compiled"]  # compared in the study
METHODS = ["spatial-structured", "winograd-direct"]
RESULTS = Path(__file__).resolve().parent / "results" / "sparse_inference.json"


class _Eager:
    """A torch module as a ``timed``-able model (whole-network time only)."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.module = module.eval()

    def timed(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        with torch.inference_mode():
            return self.module(x), {}


def pruned_export(method: str, target: float, folder: Path) -> tuple[object, dict]:
    tf = cook_toom(4, 3)
    torch.manual_seed(0)
    model = build_model("vgg-nagadomi")
    if method == "winograd-direct":
        convert_model(model, m=4, transform=tf)
    if target > 0:
        prune_model(model, method, target, transform=tf)  # type: ignore[arg-type]
    manifest = export_model(model, tf, folder, (3, 32, 32), require_pruned=target > 0)
    layers = [op for op in manifest["ops"] if op["op"] == "winograd_conv"]
    nnz = sum(op["nnz"] for op in layers)
    numel = sum(op["numel"] for op in layers)
    return model, {"sparsity": 1 - nnz / numel, "layers": {op["name"]: op for op in layers}}


def run(batches: list[int], repeats: int, strategy_study: bool, targets: list[float], save) -> dict:
    """Prune, export and time every variant; ``save(body)`` after each batch size, so a run
    stopped part-way keeps what it measured."""
    variants: dict[str, object] = {}
    info: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for method in METHODS:
            for target in targets:
                if target == 0 and method != METHODS[0]:
                    continue  # one dense export
                key = "dense-export" if target == 0 else f"{method}-{round(target * 100)}"
                folder = Path(tmp) / key
                model, meta = pruned_export(method, target, folder)
                runtime, _ = load_export(folder)
                info[key] = {
                    "method": method if target else None,
                    "target": target,
                    "winograd_sparsity": meta["sparsity"],
                    "strategies": runtime.layer_strategies(),
                    "layer_sparsity": {n: op["sparsity"] for n, op in meta["layers"].items()},
                }
                if target == 0:
                    variants["conv2d"] = conv2d_twin(runtime)
                    winograd = build_model("vgg-nagadomi")
                    winograd.load_state_dict(model.state_dict())
                    convert_model(winograd, m=4)
                    variants["winograd-training-layer"] = _Eager(winograd)
                    variants["runtime-dense"] = runtime  # the automatic choice (compiled)
                    variants["runtime-dense-torch"] = SparseModel(
                        runtime.ops, runtime.tensors, runtime.tf, "dense"
                    )
                    continue
                variants[key] = runtime
                if strategy_study:
                    for strategy in TORCH_STRATEGIES:
                        forced = SparseModel(runtime.ops, runtime.tensors, runtime.tf, strategy)
                        variants[f"{key}@{strategy}"] = forced
    results = {}
    for batch in batches:
        names = [k for k in variants if "@" not in k or batch == max(batches)]
        results[str(batch)] = measure(batch, {k: variants[k] for k in names}, repeats)
        print(markdown(batch, results[str(batch)], info), flush=True)
        save({"variants": info, "batches": results})
    return {"variants": info, "batches": results}


def measure(batch: int, models: dict[str, object], repeats: int) -> dict:
    x = torch.randn(batch, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    for model in models.values():
        model.timed(x)  # type: ignore[attr-defined]
    total: dict[str, list[float]] = {k: [] for k in models}
    layers: dict[str, dict[str, list[float]]] = {k: {} for k in models}
    for _ in range(repeats):
        for key, model in models.items():
            start = time.perf_counter()
            _, per_layer = model.timed(x)  # type: ignore[attr-defined]
            total[key].append(time.perf_counter() - start)
            for name, sec in per_layer.items():
                layers[key].setdefault(name, []).append(sec)
    conv = statistics.median(total["conv2d"])
    conv_min = min(total["conv2d"])
    return {
        key: {
            "ms": round(1e3 * statistics.median(t), 2),
            "min_ms": round(1e3 * min(t), 2),
            "images_per_s": round(batch / statistics.median(t), 1),
            "speedup_vs_conv2d": round(conv / statistics.median(t), 3),
            "min_speedup_vs_conv2d": round(conv_min / min(t), 3),
            "layers_ms": {n: round(1e3 * statistics.median(v), 3) for n, v in layers[key].items()},
        }
        for key, t in total.items()
    }


def markdown(batch: int, rows: dict, info: dict) -> str:
    lines = [
        f"batch {batch}:",
        "| variant | Winograd sparsity | ms | images/s | speed-up vs conv2d (median / min) |",
        "|---|---|---|---|---|",
    ]
    for key, r in rows.items():
        if "@" in key:
            continue
        sparsity = info.get(key, {}).get("winograd_sparsity")
        label = f"{sparsity:.1%}" if sparsity is not None else "-"
        lines.append(
            f"| {key} | {label} | {r['ms']:.1f} | {r['images_per_s']:.0f} "
            f"| {r['speedup_vs_conv2d']:.2f}x / {r['min_speedup_vs_conv2d']:.2f}x |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="batch 32 only, no strategy study")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--targets", default=",".join(map(str, TARGETS)), help="Winograd sparsities, 0 first"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    batches = [32] if args.quick else [1, 32]
    targets = [float(t) for t in args.targets.split(",")]
    if not targets or targets[0] != 0:
        parser.error("--targets: must start with 0 (the dense export and the baselines)")

    changed = dirty()  # before the first save, which changes the results file itself

    def save(body: dict) -> None:
        result = {
            "benchmark": "sparse_inference",
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "commit": commit(),
            "dirty": changed,
            "machine": machine(torch.device("cpu")),
            "model": "vgg-nagadomi, width 1.0, random init, pruned by "
            "winoprune.pruning.prune_model",
            "tile": "F(4,3)",
            "kernel": (
                f"compiled: {native.build().name} ({' '.join(native.FLAGS)})"
                if native.available()
                else f"not available ({native.reason()}): PyTorch products"
            ),
            "repeats": args.repeats,
            "statistic": "median (and min) after 1 warm-up call, all variants interleaved "
            "per repeat",
            **body,
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")
        print(f"written to {args.out}", flush=True)

    run(batches, args.repeats, not args.quick, targets, save)


if __name__ == "__main__":
    main()
