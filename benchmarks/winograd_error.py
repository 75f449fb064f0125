"""Floating-point error of Winograd tiles and layers, per tile, point set and format.

Barabasz et al. bound the floating-point error of Winograd convolution and find that it grows
quickly with the tile; good points, Huffman summation order, mixed precision and pairwise
channel sums reduce it (related-methods-spec 4). Four measurements, all on fixed seeds:

- ``tiles``: the authors' protocol (``winoprune.winograd.error_model``) for every named point set
  and the default points of F(m, 3), m = 2..10, in float32, bfloat16 and float16, natural /
  Huffman / mixed, with direct convolution and the error bound (``error_table``);
- ``channel_sums``: the DNN-layer tile (C channels) with sequential, pairwise and float64 sums;
- ``layer_options``: ``winograd_conv2d`` with each layer option (channel_sum x order) against
  float64 F.conv2d;
- ``rows``: ``winograd_conv2d`` in float32 per tile against float64 F.conv2d (unit-variance
  output), as before.

Writes benchmarks/results/winograd_error.json (with provenance) and prints Markdown tables.

    python benchmarks/winograd_error.py [--trials 5000] [--quick] [--points "6,3:0,1,...,inf"]
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

from winoprune.winograd.error_table import PROTOCOL, channel_sum_rows, error_table, layer_rows
from winoprune.winograd.functional import to_winograd, winograd_conv2d
from winoprune.winograd.points import PointSet, named_set, named_sets
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


def table_sets() -> list[PointSet]:
    """Every named set, and the default points of F(m, 3) for m = 2..10 not already named."""
    sets = named_sets()
    named = {(s.m, s.r, s.points) for s in sets}
    for m in range(2, 11):
        labels = tuple(cook_toom(m, 3).point_labels())
        if (m, 3, labels) not in named:
            sets.append(PointSet(f"default-{m}-3", m, 3, labels, "default"))
    return sets


def fmt(value: float | None) -> str:
    return "overflow" if value is None else f"{value:.2e}"


def tiles_markdown(rows: list[dict]) -> str:
    lines = [
        "| set | tile | points | f32 natural | f32 Huffman | f32 mixed | f32 direct "
        "| bf16 natural | f16 natural | norm product |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        e = r["errors"]
        lines.append(
            f"| {r['name']} | {r['tile']} | {', '.join(r['points'])} "
            f"| {fmt(e['float32']['natural'])} "
            f"| {fmt(e['float32']['huffman'])} | {fmt(e['float32']['mixed'])} "
            f"| {fmt(r['direct']['float32'])} | {fmt(e['bfloat16']['natural'])} "
            f"| {fmt(e['float16']['natural'])} | {r['norm_product']:.3g} |"
        )
    return "\n".join(lines)


def sums_markdown(rows: list[dict]) -> str:
    lines = [
        "| tile | C | variant | sequential | pairwise | float64 |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['tile']} {{{', '.join(r['points'])}}} | {r['channels']} | {r['variant']} "
            f"| {fmt(r['sequential'])} | {fmt(r['pairwise'])} | {fmt(r['float64'])} |"
        )
    return "\n".join(lines)


def options_markdown(rows: list[dict]) -> str:
    lines = ["| tile | C | channel_sum | order | mean abs error | max abs error |"]
    lines.append("|---|---|---|---|---|---|")
    for r in rows:
        lines.append(
            f"| {r['tile']} | {r['channels']} | {r['channel_sum']} | {r['order']} "
            f"| {r['mean_abs_error']:.2e} | {r['max_abs_error']:.2e} |"
        )
    return "\n".join(lines)


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
    parser.add_argument("--trials", type=int, default=5000, help="random tiles per table cell")
    parser.add_argument("--channel-trials", type=int, default=500, help="tiles per C row")
    parser.add_argument("--quick", action="store_true", help="200 / 50 trials, C = 64 only")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.quick:
        args.trials, args.channel_trials = 200, 50
    channel_counts = (64,) if args.quick else (64, 256, 512)
    transforms = [cook_toom(m, r) for m, r in DEFAULT_TILES]
    transforms += [parse_point_set(s) for s in (args.points or DEFAULT_POINT_SETS)]
    rows = measure(transforms, args.channels, args.size, args.batch, args.seed)
    tiles = error_table(args.trials, args.seed, table_sets())
    sums_tiles = [named_set(n).transform() for n in ("lavin-4-3", "barabasz-6-3")]
    sums = [
        row
        for tf in sums_tiles
        for row in channel_sum_rows(tf, channel_counts, args.channel_trials, args.seed)
    ]
    options = [
        row
        for tf in sums_tiles
        for c in (64, 256)
        for row in layer_rows(tf, c, args.size, max(1, args.batch // 4), args.seed)
    ]
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
        "tiles_setup": {"trials": args.trials, "seed": args.seed, "protocol": PROTOCOL},
        "tiles": tiles,
        "channel_sums_setup": {"trials": args.channel_trials, "channels": list(channel_counts)},
        "channel_sums": sums,
        "layer_options_setup": {"size": args.size, "batch": max(1, args.batch // 4)},
        "layer_options": options,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(markdown(rows))
    print("\n" + tiles_markdown(tiles))
    print("\n" + sums_markdown(sums))
    print("\n" + options_markdown(options))
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
