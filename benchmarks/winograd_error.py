"""Float32 error of winograd_conv2d against float64 F.conv2d, per tile size and point set.

Barabasz et al. (arXiv 1803.10986) bound the floating-point error of Winograd convolution and
find that it grows quickly with the tile. This measures it: fixed seed, unit-variance input and
weights scaled so that the output has unit variance, float64 conv2d as the truth; float32
conv2d gives the reference row. Writes benchmarks/results/winograd_error.json and prints a
Markdown table.

    python benchmarks/winograd_error.py [--points "6,3:0,1,-1,2,-2,3,-3,inf" ...]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
from pathlib import Path

import torch
import torch.nn.functional as F
from provenance import commit  # the sibling script (benchmarks/ is on sys.path)

from winoprune.winograd.functional import to_winograd, winograd_conv2d
from winoprune.winograd.transforms import WinogradTransform, cook_toom

DEFAULT_TILES = [(2, 3), (4, 3), (6, 3), (8, 3), (2, 5), (4, 5)]
# the F(6,3) point sets the issue asks to compare; the first is the default of cook_toom
DEFAULT_POINT_SETS = ["6,3:0,1,-1,2,-2,3,-3,inf"]
RESULTS = Path(__file__).resolve().parent / "results" / "winograd_error.json"


def parse_point_set(spec: str) -> WinogradTransform:
    """ "m,r:p1,p2,...": a transform built from explicit interpolation points."""
    try:
        sizes, points = spec.split(":")
        m, r = (int(v) for v in sizes.split(","))
    except ValueError:
        raise ValueError(f"points: expected 'm,r:p1,p2,...', got {spec!r}") from None
    return cook_toom(m, r, points.split(","))


def errors(y: torch.Tensor, ref: torch.Tensor) -> dict[str, float]:
    diff = (y.double() - ref).abs()
    return {
        "max_abs_error": diff.max().item(),
        "mean_relative_error": (diff.mean() / ref.abs().mean()).item(),
    }


def measure(
    transforms: list[WinogradTransform], channels: int, size: int, batch: int, seed: int
) -> list[dict]:
    rows = []
    for r in sorted({tf.r for tf in transforms}):
        gen = torch.Generator().manual_seed(seed)
        x = torch.randn(batch, channels, size, size, generator=gen, dtype=torch.float64)
        w = torch.randn(channels, channels, r, r, generator=gen, dtype=torch.float64)
        w /= (channels * r * r) ** 0.5  # unit-variance output
        ref = F.conv2d(x, w, padding=r // 2)
        direct = F.conv2d(x.float(), w.float(), padding=r // 2)
        rows.append(
            {"method": f"F.conv2d float32 ({r}x{r})", "r": r, "points": "-", **errors(direct, ref)}
        )
        for tf in (t for t in transforms if t.r == r):
            q = to_winograd(w, tf).float()  # exact Q rounded once, as a trained model stores it
            y = winograd_conv2d(x.float(), q, tf, padding=r // 2)
            points = "{" + ", ".join(tf.point_labels()) + "}"
            rows.append({"method": tf.name, "r": r, "points": points, **errors(y, ref)})
    return rows


def markdown(rows: list[dict]) -> str:
    lines = ["| method | points | max abs error | mean relative error |", "|---|---|---|---|"]
    for row in rows:
        lines.append(
            f"| {row['method']} | {row['points']} | {row['max_abs_error']:.2e} "
            f"| {row['mean_relative_error']:.2e} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--points",
        action="append",
        default=None,
        help="extra transform 'm,r:p1,p2,...' (repeatable); default compares F(6,3) point sets",
    )
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--size", type=int, default=16)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    transforms = [cook_toom(m, r) for m, r in DEFAULT_TILES]
    transforms += [parse_point_set(s) for s in (args.points or DEFAULT_POINT_SETS)]
    rows = measure(transforms, args.channels, args.size, args.batch, args.seed)
    result = {
        "benchmark": "winograd_error",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": commit(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "torch": torch.__version__,
        "setup": {
            "channels": args.channels,
            "size": args.size,
            "batch": args.batch,
            "seed": args.seed,
        },
        "reference": "float64 F.conv2d; input N(0,1), weights N(0, 1/(C r^2)), padding r // 2",
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(markdown(rows))
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
