"""Time WinogradConv2d against F.conv2d on the VGG-nagadomi layer shapes.

Forward and forward+backward, conv2d and Winograd measured interleaved in one loop (so load from
other processes hits both alike), medians after warm-up, ratio = Winograd / conv2d. Writes
benchmarks/results/winograd_layer.json and prints a Markdown table.

    python benchmarks/winograd_layer.py [--quick] [--device cpu|cuda] [--threads 2]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from provenance import commit
from torch import nn

from winoprune.winograd.layers import WinogradConv2d

LAYERS = [(64, 32), (128, 16), (256, 8)]  # (C = K, H = W), 3x3, padding 1
TILES = [2, 4]
RESULTS = Path(__file__).resolve().parent / "results" / "winograd_layer.json"


def machine(device: torch.device) -> dict[str, object]:
    cpu = platform.processor() or "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [
            ln.split(":", 1)[1].strip()
            for ln in cpuinfo.read_text().splitlines()
            if ln.startswith("model name")
        ]
        cpu = names[0] if names else cpu
    info: dict[str, object] = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "device": str(device),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        # conv2d (cuDNN) may use TF32 while the Winograd layer's matmuls stay full fp32
        info["tf32"] = {
            "cudnn": torch.backends.cudnn.allow_tf32,
            "matmul": torch.backends.cuda.matmul.allow_tf32,
        }
    return info


def interleaved_times(
    fns: list[Callable[[], None]], repeats: int, device: torch.device
) -> list[list[float]]:
    """Seconds of each call of each function, timing them in turn inside one loop."""

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for fn in fns:  # warm-up: allocator, MKL/oneDNN primitives, caches
        fn()
        fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, bucket in zip(fns, times, strict=True):
            sync()
            start = time.perf_counter()
            fn()
            sync()
            bucket.append(time.perf_counter() - start)
    return times


def bench_shape(
    batch: int, channels: int, size: int, m: int, repeats: int, device: torch.device
) -> dict:
    torch.manual_seed(0)
    conv = nn.Conv2d(channels, channels, 3, padding=1).to(device)
    wino = WinogradConv2d.from_conv2d(conv, m=m)
    x = torch.randn(batch, channels, size, size, device=device, requires_grad=True)
    grad_y = torch.randn(batch, channels, size, size, device=device)

    def conv_fwd() -> None:
        with torch.no_grad():
            F.conv2d(x, conv.weight, conv.bias, padding=1)

    def wino_fwd() -> None:
        with torch.no_grad():
            wino(x)

    def conv_fwd_bwd() -> None:
        F.conv2d(x, conv.weight, conv.bias, padding=1).backward(grad_y)

    def wino_fwd_bwd() -> None:
        wino(x).backward(grad_y)

    times = interleaved_times([conv_fwd, wino_fwd, conv_fwd_bwd, wino_fwd_bwd], repeats, device)
    cf, wf, cb, wb = (statistics.median(t) for t in times)
    best = [min(t) for t in times]
    return {
        "batch": batch,
        "channels": channels,
        "size": size,
        "tile": wino.transform.name,
        "conv2d_fwd_ms": round(cf * 1e3, 2),
        "winograd_fwd_ms": round(wf * 1e3, 2),
        "fwd_ratio": round(wf / cf, 3),
        "conv2d_fwd_bwd_ms": round(cb * 1e3, 2),
        "winograd_fwd_bwd_ms": round(wb * 1e3, 2),
        "fwd_bwd_ratio": round(wb / cb, 3),
        # the fastest call of each: less sensitive to other processes on a shared machine
        "min_ms": dict(
            zip(
                ["conv2d_fwd", "winograd_fwd", "conv2d_fwd_bwd", "winograd_fwd_bwd"],
                [round(t * 1e3, 2) for t in best],
                strict=True,
            )
        ),
        "min_fwd_bwd_ratio": round(best[3] / best[2], 3),
    }


def markdown(rows: list[dict]) -> str:
    lines = [
        "| batch | C=K | HxW | tile | conv2d fwd ms | Winograd fwd ms | ratio "
        "| conv2d fwd+bwd ms | Winograd fwd+bwd ms | ratio |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['batch']} | {r['channels']} | {r['size']}x{r['size']} | {r['tile']} "
            f"| {r['conv2d_fwd_ms']:.1f} | {r['winograd_fwd_ms']:.1f} | {r['fwd_ratio']:.2f} "
            f"| {r['conv2d_fwd_bwd_ms']:.1f} | {r['winograd_fwd_bwd_ms']:.1f} "
            f"| {r['fwd_bwd_ratio']:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="batch 32 only, fewer repeats")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (CPU)")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats per function")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available")
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    batches = [32] if args.quick else [32, 128]
    repeats = args.repeats or (5 if args.quick else 11)
    rows = []
    for batch in batches:
        for channels, size in LAYERS:
            for m in TILES:
                rows.append(bench_shape(batch, channels, size, m, repeats, device))
                print(markdown(rows[-1:]).splitlines()[-1], flush=True)
    result = {
        "benchmark": "winograd_layer",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": commit(),
        "machine": machine(device),
        "repeats": repeats,
        "statistic": "median (and min) after 2 warm-up calls, conv2d and Winograd interleaved",
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print()
    print(markdown(rows))
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
