"""Multiplications of Winograd-ReLU layers counted as Liu et al. count them (related-methods-spec
1.6): a Winograd-domain product ``Q[k, c, s] * V+[c, t, s]`` is skipped when either factor is 0.

For one layer, over the tiles t of the evaluation set::

    mults = sum_t sum_c sum_s 1[V+[c, t, s] != 0] * #{k : Q[k, c, s] != 0}

reported per image next to the weight-only count ``nnz(Q) * tiles``. The activation counts come
from one pass of the evaluation set with ``count_activations``; Q is the (masked) weight at the
time of the count. Under independence ``mults ~ dense * d_w * d_a`` (d_w = 1 - sparsity, d_a =
``activation_density``), but the count is exact.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace

import torch
from torch import nn

from winoprune.pruning.metrics import LayerStat
from winoprune.winograd.relu import ActivationCount, WinogradReLUConv2d


def winograd_relu_layers(model: nn.Module) -> dict[str, WinogradReLUConv2d]:
    """The model's Winograd-ReLU layers by module name, in module order."""
    return {n: m for n, m in model.named_modules() if isinstance(m, WinogradReLUConv2d)}


@contextmanager
def count_activations(model: nn.Module) -> Iterator[dict[str, ActivationCount]]:
    """Count the nonzero transformed activations of every Winograd-ReLU layer inside the block.

    Yields {layer name: ActivationCount}, filled by the forward passes run inside the block;
    the layers stop counting when it ends.
    """
    layers = winograd_relu_layers(model)
    counts = {
        name: ActivationCount(layer.transform.alpha**2, layer.in_channels)
        for name, layer in layers.items()
    }
    for name, layer in layers.items():
        layer.activation_count = counts[name]
    try:
        yield counts
    finally:
        for layer in layers.values():
            layer.activation_count = None


def activation_multiplications(count: ActivationCount, q: torch.Tensor) -> int:
    """Products with both factors nonzero over everything ``count`` saw (not per image).

    ``count.nonzero`` (a*a, C) holds ``sum_t 1[V+[c, t, s] != 0]``; q (K, C, a, a) gives
    ``#{k : Q[k, c, s] != 0}`` per (s, c); the result is their inner product.
    """
    a2, c = count.nonzero.shape
    if q.dim() != 4 or q.shape[1] != c or q.shape[2] * q.shape[3] != a2:
        raise ValueError(
            f"weight: shape {tuple(q.shape)} does not fit counts of {a2} positions x {c} channels"
        )
    nonzero_k = (q.detach() != 0).sum(dim=0).flatten(1).t().to("cpu", torch.int64)  # (a*a, C)
    return int((count.nonzero * nonzero_k).sum().item())


def with_activation_stats(
    rows: Iterable[LayerStat], model: nn.Module, counts: dict[str, ActivationCount]
) -> list[LayerStat]:
    """``rows`` with ``activation_density`` and ``mult_activation_sparse`` (per image, rounded)
    filled in on the Winograd rows of the counted layers that saw at least one image."""
    out = []
    for row in rows:
        count = counts.get(row.layer)
        if count is not None and count.images and row.domain == "winograd":
            weight = model.get_submodule(row.layer).weight
            assert isinstance(weight, torch.Tensor)
            mults = activation_multiplications(count, weight) / count.images
            row = replace(
                row, activation_density=count.density, mult_activation_sparse=round(mults)
            )
        out.append(row)
    return out
