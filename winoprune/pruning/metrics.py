"""Per-layer sparsity and multiplication counts, in the spatial and the Winograd domain.

For a conv with K outputs, C inputs, an r x r kernel and an output of Ho x Wo per image:

- direct:          ``K * C * r * r * Ho * Wo``
- dense Winograd:  ``K * C * a * a * tiles``, ``tiles = ceil(Ho / m) * ceil(Wo / m)``, a = m + r - 1
- sparse Winograd: ``nnz(Q) * tiles`` (only nonzero Winograd weights multiply)

Only the element-wise products are counted (paper-spec section 1, cost model); the input and
output transforms and FC layers are not. Winograd sparsity is the exact-zero fraction of Q (or of
``G W G^T`` for a spatial conv); the overall figure is ``sum zeros / sum entries`` over the
pruned layers (paper-spec section 8.6).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Literal

import torch
from torch import nn

from winoprune.pruning.spatial import transform_for_kernel
from winoprune.winograd.functional import to_winograd
from winoprune.winograd.layers import WinogradConv2d, ineligibility
from winoprune.winograd.transforms import WinogradTransform

Domain = Literal["spatial", "winograd"]


@dataclass(frozen=True)
class LayerStat:
    """One row per (layer, domain); flat and typed, for a DB row.

    ``numel``/``nnz``/``sparsity``: of W (spatial) or of Q (winograd). ``multiplications``: the
    cost in this row's domain per image: direct for "spatial", sparse Winograd for "winograd".
    ``mult_*``: the three costs of the layer (``mult_winograd_*`` None for a conv with no
    Winograd form, e.g. 1x1 or stride 2).
    """

    layer: str
    domain: Domain
    numel: int
    nnz: int
    sparsity: float
    multiplications: int
    mult_direct: int
    mult_winograd_dense: int | None
    mult_winograd_sparse: int | None


@dataclass(frozen=True)
class ModelSummary:
    """Overall figures: Winograd sparsity over the counted layers, multiplications over all convs.

    A conv without a Winograd form adds its direct cost to both Winograd totals.
    """

    winograd_sparsity: float
    winograd_zeros: int
    winograd_entries: int
    mult_direct: int
    mult_winograd_dense: int
    mult_winograd_sparse: int


def output_sizes(model: nn.Module, input_shape: tuple[int, int, int]) -> dict[str, tuple[int, int]]:
    """{conv module name: (Ho, Wo)} from one forward pass of a zero (1, C, H, W) input."""
    convs = {n: m for n, m in model.named_modules() if isinstance(m, nn.Conv2d | WinogradConv2d)}
    sizes: dict[str, tuple[int, int]] = {}
    handles = [
        module.register_forward_hook(
            lambda _m, _i, out, name=name: sizes.__setitem__(name, tuple(out.shape[-2:]))
        )
        for name, module in convs.items()
    ]
    reference = next(iter(model.parameters()))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(reference.new_zeros((1, *input_shape)))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return sizes


def layer_stats(
    model: nn.Module,
    input_shape: tuple[int, int, int],
    transform: WinogradTransform | None = None,
    kernel_sizes: tuple[int, ...] = (3,),
) -> list[LayerStat]:
    """Rows for every conv (nn.Conv2d and WinogradConv2d) of the model, in module order.

    nn.Conv2d: a "spatial" row, plus a "winograd" row of ``G W G^T`` when it is Winograd-eligible
    (stride 1, kernel in ``kernel_sizes``) under ``transform`` (default F(4, r); a transform of
    another r is replaced by F(transform.m, r)). WinogradConv2d: a "winograd" row only (its Q
    has no exact spatial counterpart once pruned). Convs never run by the forward are skipped.
    """
    sizes = output_sizes(model, input_shape)
    rows: list[LayerStat] = []
    for name, module in model.named_modules():
        if name not in sizes:
            continue
        ho, wo = sizes[name]
        if isinstance(module, WinogradConv2d):
            rows.append(_winograd_row(name, module.weight.detach(), module.transform, ho, wo))
        elif isinstance(module, nn.Conv2d):
            rows.extend(_spatial_rows(name, module, transform, kernel_sizes, ho, wo))
    return rows


def _spatial_rows(
    name: str,
    conv: nn.Conv2d,
    transform: WinogradTransform | None,
    kernel_sizes: tuple[int, ...],
    ho: int,
    wo: int,
) -> list[LayerStat]:
    w = conv.weight.detach()
    direct = w.numel() * ho * wo  # K * (C / groups) * kh * kw per output pixel
    nnz = int((w != 0).sum().item())
    rows = [
        LayerStat(name, "spatial", w.numel(), nnz, 1 - nnz / w.numel(), direct, direct, None, None)
    ]
    if ineligibility(conv, kernel_sizes) is None:
        tf = transform_for_kernel(conv.kernel_size[0], transform)
        winograd = _winograd_row(name, to_winograd(w, tf), tf, ho, wo)
        rows = [
            replace(
                rows[0],
                mult_winograd_dense=winograd.mult_winograd_dense,
                mult_winograd_sparse=winograd.mult_winograd_sparse,
            ),
            winograd,
        ]
    return rows


def _winograd_row(name: str, q: torch.Tensor, tf: WinogradTransform, ho: int, wo: int) -> LayerStat:
    k, c = q.shape[:2]
    tiles = -(-ho // tf.m) * -(-wo // tf.m)
    nnz = int((q != 0).sum().item())
    sparse = nnz * tiles
    return LayerStat(
        name,
        "winograd",
        q.numel(),
        nnz,
        1 - nnz / q.numel(),
        sparse,
        k * c * tf.r * tf.r * ho * wo,
        q.numel() * tiles,
        sparse,
    )


def summary(rows: Iterable[LayerStat], counted_layers: Iterable[str]) -> ModelSummary:
    """Overall Winograd sparsity ``sum zeros / sum entries`` of Q over ``counted_layers`` (the
    pruned ones) and the total multiplications per image over all conv layers in ``rows``.
    """
    by_layer: dict[str, dict[str, LayerStat]] = {}
    for row in rows:
        by_layer.setdefault(row.layer, {})[row.domain] = row
    counted = set(counted_layers)
    if missing := counted - {n for n, d in by_layer.items() if "winograd" in d}:
        raise ValueError(f"counted_layers: no Winograd-domain row for {sorted(missing)}")
    zeros = sum(by_layer[n]["winograd"].numel - by_layer[n]["winograd"].nnz for n in counted)
    entries = sum(by_layer[n]["winograd"].numel for n in counted)
    layer_rows = [d["winograd"] if "winograd" in d else d["spatial"] for d in by_layer.values()]
    direct = dense = sparse = 0
    for row in layer_rows:
        direct += row.mult_direct
        dense += row.mult_direct if row.mult_winograd_dense is None else row.mult_winograd_dense
        sparse += row.mult_direct if row.mult_winograd_sparse is None else row.mult_winograd_sparse
    return ModelSummary(zeros / entries if entries else 0.0, zeros, entries, direct, dense, sparse)


def position_zero_map(
    module: nn.Module, transform: WinogradTransform | None = None
) -> torch.Tensor:
    """(a, a) float64: fraction of exact zeros of Q at each Winograd position, over K and C.

    WinogradConv2d: its Q; nn.Conv2d: ``G W G^T`` under ``transform`` (default F(4, r)).
    """
    if isinstance(module, WinogradConv2d):
        q = module.weight.detach()
    elif isinstance(module, nn.Conv2d):
        tf = transform_for_kernel(module.kernel_size[0], transform)
        q = to_winograd(module.weight.detach(), tf)
    else:
        raise TypeError(f"module: must be nn.Conv2d or WinogradConv2d, got {type(module).__name__}")
    return (q == 0).double().mean(dim=(0, 1))
