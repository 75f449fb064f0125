"""Measured speed of an export against oneDNN ``F.conv2d``, and its counted multiplications.

``measure(model, batch, repeats)`` times the export's SparseModel and its conv2d twin (the same
op chain with every Winograd layer run as ``F.conv2d`` on a dense (K, C, r, r) weight; the
values do not matter for timing) interleaved in one loop, so load from other processes hits
both alike; medians (and minima) of whole-network and per-layer seconds. ``counted`` gives each
Winograd layer's multiplications per image: direct ``K C r^2 Ho Wo`` and sparse Winograd
``nnz(Q) * tiles``, ``tiles = ceil(Ho / m) ceil(Wo / m)``.
"""

from __future__ import annotations

import math
import statistics
import threading
import time
from typing import Any

import torch
import torch.nn.functional as F

from winoprune.runtime.conv import SparseWinogradConv
from winoprune.runtime.model import SparseModel, Step


def _dense_conv(
    w: torch.Tensor, b: torch.Tensor | None, padding: int, relu: bool, pool: bool
) -> Step:
    """conv2d, then the ReLU and max-pool the Winograd layer runs inside it (whose own steps
    are then the identity), as PyTorch runs them."""

    def run(x: torch.Tensor) -> torch.Tensor:
        y = F.conv2d(x, w, b, padding=padding)
        y = y.relu_() if relu else y
        return F.max_pool2d(y, 2, 2) if pool else y

    return run


def conv2d_twin(model: SparseModel) -> SparseModel:
    """A copy of ``model`` whose Winograd layers are dense oneDNN convolutions."""
    twin = SparseModel.__new__(SparseModel)
    twin.ops, twin.tf = model.ops, model.tf
    twin._arena = threading.local()
    twin.steps = []
    gen = torch.Generator().manual_seed(0)
    r = model.tf.r
    for step in model.steps:
        if isinstance(step, SparseWinogradConv):
            w = torch.randn(step.k, step.c, r, r, generator=gen) * 0.05
            twin.steps.append(_dense_conv(w, step.bias, step.padding, step.relu, step.pool))
        else:
            twin.steps.append(step)
    return twin


def interleaved(models: dict[str, SparseModel], x: torch.Tensor, repeats: int) -> dict[str, Any]:
    """Per model: median and min whole-network seconds, median seconds per named layer."""
    for model in models.values():  # warm-up: allocator, MKL/oneDNN primitives
        model.timed(x)
        model.timed(x)
    total: dict[str, list[float]] = {key: [] for key in models}
    layers: dict[str, dict[str, list[float]]] = {key: {} for key in models}
    for _ in range(repeats):
        for key, model in models.items():
            start = time.perf_counter()
            _, per_layer = model.timed(x)
            total[key].append(time.perf_counter() - start)
            for name, sec in per_layer.items():
                layers[key].setdefault(name, []).append(sec)
    return {
        key: {
            "median_s": statistics.median(total[key]),
            "min_s": min(total[key]),
            "layers_s": {name: statistics.median(v) for name, v in layers[key].items()},
        }
        for key in models
    }


def measure(model: SparseModel, input_shape: list[int], batch: int, repeats: int) -> dict:
    """speed.json's content: images/s of conv2d and of the export, speed-ups, per layer."""
    x = torch.randn(batch, *input_shape, generator=torch.Generator().manual_seed(1))
    res = interleaved({"conv2d": conv2d_twin(model), "sparse": model}, x, repeats)
    conv, sparse = res["conv2d"], res["sparse"]
    strategies = model.layer_strategies()
    return {
        "batch": batch,
        "threads": torch.get_num_threads(),
        "repeats": repeats,
        "images_per_s": {
            "conv2d": batch / conv["median_s"],
            "sparse_winograd": batch / sparse["median_s"],
        },
        "speedup": conv["median_s"] / sparse["median_s"],
        "speedup_min": conv["min_s"] / sparse["min_s"],
        "layers": {
            name: {
                "conv2d_ms": 1e3 * conv["layers_s"][name],
                "sparse_ms": 1e3 * sec,
                "speedup": conv["layers_s"][name] / sec,
                "strategy": strategies[name],
            }
            for name, sec in sparse["layers_s"].items()
            if name in strategies
        },
    }


def output_sizes(manifest: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """(Ho, Wo) of every conv layer of an export, from its input shape and op chain."""
    _, h, w = manifest["input_shape"]
    r = int(manifest["r"])
    sizes: dict[str, tuple[int, int]] = {}
    for op in manifest["ops"]:
        kind = op["op"]
        if kind == "winograd_conv":
            h, w = h + 2 * op["padding"] - r + 1, w + 2 * op["padding"] - r + 1
            sizes[op["name"]] = (h, w)
        elif kind == "conv":
            k, s, p = op["shape"][2], op["stride"], op["padding"]
            h, w = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
            sizes[op["name"]] = (h, w)
        elif kind == "maxpool":
            k, s, p = op["kernel"], op["stride"], op["padding"]
            h, w = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        elif kind == "avgpool":
            h, w = 1, 1
    return sizes


def counted(manifest: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Multiplications per image of each Winograd layer: direct and sparse Winograd."""
    m, r = int(manifest["m"]), int(manifest["r"])
    sizes = output_sizes(manifest)
    out: dict[str, dict[str, int]] = {}
    for op in manifest["ops"]:
        if op["op"] != "winograd_conv":
            continue
        ho, wo = sizes[op["name"]]
        k, c = op["out_channels"], op["in_channels"]
        tiles = math.ceil(ho / m) * math.ceil(wo / m)
        out[op["name"]] = {"direct": k * c * r * r * ho * wo, "sparse": op["nnz"] * tiles}
    return out
