"""The error table: every named point set's measured error per dtype and variant, its bound,
and the channel-sum and layer-option measurements (``benchmarks/winograd_error.py``, the UI).

Rows are plain dicts (JSON-ready); errors that overflow the dtype are None.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from winoprune.winograd.accurate import Summation
from winoprune.winograd.error_model import (
    CHANNEL_SUMS,
    DTYPES,
    VARIANTS,
    direct_error,
    error_bound,
    norm_product,
    tile_error,
)
from winoprune.winograd.functional import to_winograd, winograd_conv2d
from winoprune.winograd.points import PointSet, named_sets
from winoprune.winograd.transforms import WinogradTransform

PROTOCOL = (
    "per trial g (r x r) and d (alpha x alpha) ~ U[-1, 1] rounded to the dtype, fixed seed; "
    "truth: direct correlation in float64 of the same values; error: L1 norm over the m x m "
    "output tile, mean over the trials (related-methods-spec 4.5)"
)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def tile_row(
    tf: WinogradTransform,
    trials: int,
    seed: int = 0,
    dtypes: tuple[str, ...] = tuple(DTYPES),
    variants: tuple[str, ...] = VARIANTS,
) -> dict[str, Any]:
    """One tile's measured errors {dtype: {variant: err}}, direct baselines and bounds."""
    return {
        "tile": tf.name,
        "m": tf.m,
        "r": tf.r,
        "points": tf.point_labels(),
        "norm_product": norm_product(tf),
        "bound": {dt: _finite(error_bound(tf, dt)) for dt in dtypes},
        "direct": {dt: _finite(direct_error(tf, trials, seed, dt)) for dt in dtypes},
        "errors": {
            dt: {v: _finite(tile_error(tf, trials, seed, dt, v)) for v in variants} for dt in dtypes
        },
    }


def error_table(
    trials: int = 1000,
    seed: int = 0,
    sets: list[PointSet] | None = None,
    dtypes: tuple[str, ...] = tuple(DTYPES),
    variants: tuple[str, ...] = VARIANTS,
) -> list[dict[str, Any]]:
    """``tile_row`` of every named set (default: all), sorted by tile then float32 error."""
    rows = []
    for s in sets if sets is not None else named_sets():
        row = tile_row(s.transform(), trials, seed, dtypes, variants)
        rows.append({"name": s.name, "form": s.form, "source": s.source, **row})
    key = dtypes[0]
    return sorted(rows, key=lambda r: (r["r"], r["m"], r["errors"][key][variants[0]] or math.inf))


def channel_sum_rows(
    tf: WinogradTransform, channels: tuple[int, ...], trials: int, seed: int = 0
) -> list[dict[str, Any]]:
    """Float32 error of the DNN-layer tile (C channels summed in the Winograd domain) per
    channel-sum order (sequential, pairwise, float64), natural and Huffman transforms."""
    rows = []
    for c in channels:
        for variant in ("natural", "huffman"):
            errs = {
                how: tile_error(tf, trials, seed, "float32", variant, c, how)
                for how in CHANNEL_SUMS
            }
            rows.append({"tile": tf.name, "points": tf.point_labels(), "channels": c,
                         "variant": variant, **errs})  # fmt: skip
    return rows


def layer_rows(
    tf: WinogradTransform, channels: int, size: int, batch: int, seed: int = 0
) -> list[dict[str, Any]]:
    """Float32 error of ``winograd_conv2d`` with each layer option against float64 F.conv2d:
    input N(0, 1), weights N(0, 1 / (C r^2)); mean and max absolute error."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, channels, size, size, generator=gen, dtype=torch.float64)
    w = torch.randn(channels, channels, tf.r, tf.r, generator=gen, dtype=torch.float64)
    w /= (channels * tf.r * tf.r) ** 0.5
    x, w = x.float().double(), w.float().double()  # the float32 values are the truth's input
    ref = F.conv2d(x, w, padding=tf.r // 2)
    q = to_winograd(w, tf).float()
    rows = []
    for channel_sum in ("blas", "pairwise", "float64"):
        for order in ("natural", "huffman"):
            sums = Summation(channel_sum, order)
            y = winograd_conv2d(x.float(), q, tf, padding=tf.r // 2, sums=sums).double()
            diff = (y - ref).abs()
            rows.append({"tile": tf.name, "points": tf.point_labels(), "channels": channels,
                         "channel_sum": channel_sum, "order": order,
                         "mean_abs_error": diff.mean().item(),
                         "max_abs_error": diff.max().item()})  # fmt: skip
    direct = (F.conv2d(x.float(), w.float(), padding=tf.r // 2).double() - ref).abs()
    rows.append({"tile": "F.conv2d float32", "points": [], "channels": channels,
                 "channel_sum": "-", "order": "-", "mean_abs_error": direct.mean().item(),
                 "max_abs_error": direct.max().item()})  # fmt: skip
    return rows
