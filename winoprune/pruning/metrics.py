"""Per-layer sparsity and multiplication counts, in the spatial and the Winograd domain.

For a conv with K outputs, C inputs, an r x r kernel and an output of Ho x Wo per image:

- direct:          ``K * C * r * r * Ho * Wo``
- dense Winograd:  ``K * C * a * a * tiles``, ``tiles = ceil(Ho / m) * ceil(Wo / m)``, a = m + r - 1
- sparse Winograd: ``nnz(Q) * tiles`` (only nonzero Winograd weights multiply)
- multiplication reduction versus direct convolution: ``direct / sparse Winograd``, per layer and
  overall (the figure that compares across tiles and papers, e.g. Liu et al.'s 10.4x)

Only the element-wise products are counted (paper-spec section 1, cost model); the input and
output transforms and FC layers are not. Winograd sparsity is the exact-zero fraction of Q (or of
``G W G^T`` for a spatial conv); the overall figure is ``sum zeros / sum entries`` over the
pruned layers (paper-spec section 8.6).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Literal

import torch
from torch import nn

from winoprune.pruning.adder_rows import adder_row_fields
from winoprune.pruning.dwm import piece_stats
from winoprune.pruning.operations import direct_ops, winograd_ops
from winoprune.pruning.spatial import transform_for_kernel
from winoprune.winograd.adder import AdderConv2d
from winoprune.winograd.dwm import DWMConv2d, DWMLayout, dwm_layout
from winoprune.winograd.functional import to_winograd
from winoprune.winograd.layers import WinogradConv2d, ineligibility, uses_dwm
from winoprune.winograd.transforms import WinogradTransform
from winoprune.winograd.wadder import WinogradAdderConv2d

Domain = Literal["spatial", "winograd"]


class _DerivedReduction:
    """Base of the frozen stat dataclasses: sets their derived ``mult_reduction`` field to
    ``mult_direct / mult_winograd_sparse`` (see ``mult_reduction``) after ``__init__``."""

    mult_direct: int
    mult_winograd_sparse: int | None

    def __post_init__(self) -> None:
        reduction = mult_reduction(self.mult_direct, self.mult_winograd_sparse)
        object.__setattr__(self, "mult_reduction", reduction)


@dataclass(frozen=True)
class LayerStat(_DerivedReduction):
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
    # Winograd-ReLU layers only (Liu et al. 2018; pruning.activations), measured on the
    # evaluation set: nonzero fraction of the transformed activations V+, and the products per
    # image with both factors nonzero (beside the weight-only mult_winograd_sparse)
    activation_density: float | None = None
    mult_activation_sparse: int | None = None
    # additions per image and the energy estimate of this row's way of computing the layer
    # (pruning.operations: counting rules and per-operation costs); None for DWM rows
    additions: int | None = None
    energy_pj: float | None = None
    # derived, not an argument: mult_direct / mult_winograd_sparse (see mult_reduction)
    mult_reduction: float | None = field(default=None, init=False)


@dataclass(frozen=True)
class ModelSummary(_DerivedReduction):
    """Overall figures: Winograd sparsity over the counted layers, multiplications over all convs.

    A conv without a Winograd form adds its direct cost to both Winograd totals.
    """

    winograd_sparsity: float
    winograd_zeros: int
    winograd_entries: int
    mult_direct: int
    mult_winograd_dense: int
    mult_winograd_sparse: int
    # with Winograd-ReLU rows only (else None): the total with their activation-skipping counts
    # (other convs as in mult_winograd_sparse); over those layers alone, the dense-product-
    # weighted activation density and the reduction versus direct convolution
    mult_activation_sparse: int | None = None
    activation_density: float | None = None
    activation_mult_reduction: float | None = None
    # over all conv rows of the totals (None when a row has no count: DWM)
    additions: int | None = None
    energy_pj: float | None = None
    # derived, not an argument: mult_direct / mult_winograd_sparse over all convs
    mult_reduction: float | None = field(default=None, init=False)


def mult_reduction(direct: int, sparse: int | None) -> float | None:
    """Multiplication reduction versus direct convolution: ``direct / sparse`` (x fewer).

    ``direct = K C r^2 Ho Wo`` and ``sparse = nnz(Q) * tiles`` per image, summed over the layers
    for an overall figure. None when there is no Winograd form (``sparse`` None) or no nonzero
    product left (``sparse`` 0: the reduction is unbounded).
    """
    if sparse is None or sparse <= 0:
        return None
    return direct / sparse


def output_sizes(model: nn.Module, input_shape: tuple[int, int, int]) -> dict[str, tuple[int, int]]:
    """{conv module name: (Ho, Wo)} from one forward pass of a zero (1, C, H, W) input."""
    convs = {
        n: m
        for n, m in model.named_modules()
        if isinstance(m, nn.Conv2d | WinogradConv2d | DWMConv2d | AdderConv2d | WinogradAdderConv2d)
    }
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
    dwm: bool = False,
) -> list[LayerStat]:
    """Rows for every conv (nn.Conv2d and WinogradConv2d) of the model, in module order.

    nn.Conv2d: a "spatial" row, plus a "winograd" row of ``G W G^T`` when it is Winograd-eligible
    (stride 1, kernel in ``kernel_sizes``) under ``transform`` (default F(4, r); a transform of
    another r is replaced by F(transform.m, r)). WinogradConv2d: a "winograd" row only (its Q
    has no exact spatial counterpart once pruned). Convs never run by the forward are skipped.
    DWMConv2d, and with ``dwm`` every nn.Conv2d that becomes one (``uses_dwm``): the Winograd
    row is the packed Q of all pieces, multiplications ``sum_pieces nnz(Q_p) * tiles``
    (``pruning.dwm.piece_stats`` has them per piece).
    """
    sizes = output_sizes(model, input_shape)
    rows: list[LayerStat] = []
    for name, module in model.named_modules():
        if name not in sizes:
            continue
        ho, wo = sizes[name]
        if isinstance(module, AdderConv2d | WinogradAdderConv2d):
            rows.append(LayerStat(**adder_row_fields(name, module, ho, wo)))
        elif isinstance(module, WinogradConv2d):
            rows.append(_winograd_row(name, module.weight.detach(), module.transform, ho, wo))
        elif isinstance(module, DWMConv2d):
            rows.append(_dwm_row(name, module.weight.detach(), module.layout, ho, wo))
        elif dwm and uses_dwm(module, kernel_sizes):
            assert isinstance(module, nn.Conv2d)
            layout = dwm_layout(tuple(module.kernel_size), tuple(module.stride))
            q = layout.to_winograd(module.weight.detach())
            winograd = _dwm_row(name, q, layout, ho, wo)
            spatial = _spatial_rows(name, module, transform, (), ho, wo)[0]
            dense, sparse = winograd.mult_winograd_dense, winograd.mult_winograd_sparse
            rows += [
                replace(spatial, mult_winograd_dense=dense, mult_winograd_sparse=sparse),
                winograd,
            ]
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
    ops = direct_ops(direct)
    rows = [
        LayerStat(
            name, "spatial", w.numel(), nnz, 1 - nnz / w.numel(), direct, direct, None, None,
            additions=ops.additions, energy_pj=ops.energy_pj,
        )
    ]  # fmt: skip
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
    direct = k * c * tf.r * tf.r * ho * wo
    row = _winograd_stat(name, q, nnz, direct, q.numel() * tiles, nnz * tiles)
    ops = winograd_ops(nnz * tiles, tf.AT, tf.BT, k, c, tiles)
    return replace(row, additions=ops.additions, energy_pj=ops.energy_pj)


def _dwm_row(name: str, q: torch.Tensor, layout: DWMLayout, ho: int, wo: int) -> LayerStat:
    k, c = q.shape[:2]
    pieces = piece_stats(q, layout, ho, wo)
    nnz = sum(p.nnz for p in pieces)
    sparse = sum(p.mult_sparse for p in pieces)
    kh, kw = layout.kernel
    dense = sum(p.mult_dense for p in pieces)
    return _winograd_stat(name, q, nnz, k * c * kh * kw * ho * wo, dense, sparse)


def _winograd_stat(
    name: str, q: torch.Tensor, nnz: int, direct: int, dense: int, sparse: int
) -> LayerStat:
    """The "winograd" row of a layer's Q with ``nnz`` nonzeros and its three costs per image."""
    return LayerStat(
        name, "winograd", q.numel(), nnz, 1 - nnz / q.numel(), sparse, direct, dense, sparse
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
    sparsity = zeros / entries if entries else 0.0
    totals = ModelSummary(sparsity, zeros, entries, direct, dense, sparse)
    if layer_rows and all(r.additions is not None for r in layer_rows):
        additions = sum(r.additions or 0 for r in layer_rows)
        energy = sum(r.energy_pj or 0.0 for r in layer_rows)
        totals = replace(totals, additions=additions, energy_pj=energy)
    return _with_activation_totals(totals, layer_rows)


def _with_activation_totals(totals: ModelSummary, rows: list[LayerStat]) -> ModelSummary:
    relu = [r for r in rows if r.mult_activation_sparse is not None]
    if not relu:
        return totals
    skipped = sum(r.mult_winograd_sparse or 0 for r in relu)
    counted = sum(r.mult_activation_sparse or 0 for r in relu)
    weights = sum(r.mult_winograd_dense or 0 for r in relu)
    density = sum((r.activation_density or 0.0) * (r.mult_winograd_dense or 0) for r in relu)
    return replace(
        totals,
        mult_activation_sparse=totals.mult_winograd_sparse - skipped + counted,
        activation_density=density / weights if weights else 0.0,
        activation_mult_reduction=sum(r.mult_direct for r in relu) / max(counted, 1),
    )


def position_zero_map(
    module: nn.Module, transform: WinogradTransform | None = None
) -> torch.Tensor:
    """(a, a) float64: fraction of exact zeros of Q at each Winograd position, over K and C.

    WinogradConv2d: its Q; nn.Conv2d: ``G W G^T`` under ``transform`` (default F(4, r));
    DWMConv2d: (1, P), its packed positions (``layout.piece_weights`` splits them per piece).
    """
    if isinstance(module, DWMConv2d):
        return (module.weight.detach() == 0).double().mean(dim=(0, 1)).unsqueeze(0)
    if isinstance(module, WinogradConv2d):
        q = module.weight.detach()
    elif isinstance(module, nn.Conv2d):
        tf = transform_for_kernel(module.kernel_size[0], transform)
        q = to_winograd(module.weight.detach(), tf)
    else:
        raise TypeError(f"module: must be nn.Conv2d or WinogradConv2d, got {type(module).__name__}")
    return (q == 0).double().mean(dim=(0, 1))
