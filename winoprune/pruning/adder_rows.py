"""The per-layer row of an adder layer (``metrics.layer_stats`` builds LayerStat from it).

AdderConv2d: a "spatial" row of its filters; WinogradAdderConv2d: a "winograd" row of U
(K, C, a, a). Neither multiplies in its kernel (``multiplications`` 0, and ``mult_direct`` 0: no
direct-convolution products either), except a Winograd adder layer at p != 1, whose squares
count as its Winograd-domain multiplications. ``additions`` and ``energy_pj`` follow
``pruning.operations``.
"""

from __future__ import annotations

from typing import Any

from winoprune.pruning.operations import adder_ops, winograd_adder_ops
from winoprune.winograd.adder import AdderConv2d
from winoprune.winograd.wadder import WinogradAdderConv2d


def adder_row_fields(
    name: str, module: AdderConv2d | WinogradAdderConv2d, ho: int, wo: int
) -> dict[str, Any]:
    """LayerStat fields of an adder layer with an output of ho x wo per image."""
    if isinstance(module, WinogradAdderConv2d):
        tf = module.transform
        w = module.winograd_weight().detach()
        k, c = w.shape[:2]
        tiles = -(-ho // tf.m) * -(-wo // tf.m)
        ops = winograd_adder_ops(tf.AT, tf.BT, k, c, tiles, module.p)
        kernel_mults = 0 if module.p == 1.0 else w.numel() * tiles
        domain, dense, sparse = "winograd", kernel_mults, kernel_mults
    else:
        w = module.weight.detach()
        ops = adder_ops(w.numel() * ho * wo)
        domain, dense, sparse, kernel_mults = "spatial", None, None, 0
    nnz = int((w != 0).sum().item())
    return {
        "layer": name,
        "domain": domain,
        "numel": w.numel(),
        "nnz": nnz,
        "sparsity": 1 - nnz / w.numel(),
        "multiplications": kernel_mults,
        "mult_direct": 0,
        "mult_winograd_dense": dense,
        "mult_winograd_sparse": sparse,
        "additions": ops.additions,
        "energy_pj": ops.energy_pj,
    }
