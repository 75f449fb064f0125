"""Zero maps: the fraction of exact zeros at each Winograd position, per layer and per DWM piece.

For a Winograd layer (or a spatial 3x3 conv, through ``G W G^T``) the map is a x a:
``zeros[i, j] = #{(k, c) : Q_kc[i, j] == 0} / (K C)`` (``metrics.position_zero_map``).
A DWM layer packs the pieces' Q into (K, C, P); its layer map is that (1, P) row, and
``piece_zero_maps`` splits it into one a1 x a2 map per piece, labelled with the piece's kernel
size, offset (in its phase sub-kernel) and phase, beside the piece's importance factors F_hat
(normalised over the whole layer, as the pruning ranks them).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from winoprune.pruning.metrics import position_zero_map
from winoprune.winograd.dwm import DEFAULT_DWM_M, DWMConv2d, DWMLayout, Piece, dwm_layout
from winoprune.winograd.layers import uses_dwm
from winoprune.winograd.transforms import WinogradTransform

PieceMap = dict[str, Any]  # JSON-ready: piece, label, kernel, offset, phase, tile, zeros, f_hat


def piece_label(piece: Piece) -> str:
    """``"2x3 at (0, 3), phase (1, 0)"``: kernel size, offset in the phase sub-kernel, phase."""
    (r1, r2), (h0, w0), (a, b) = piece.kernel, piece.offset, piece.phase
    return f"{r1}x{r2} at ({h0}, {w0}), phase ({a}, {b})"


def piece_zero_maps(q: torch.Tensor, layout: DWMLayout) -> list[PieceMap]:
    """Per piece of a packed q (K, C, P): its a1 x a2 zero fractions over (k, c) and its F_hat.

    ``zeros[i, j] = mean_kc(Q_piece[k, c, i, j] == 0)``; ``f_hat`` is
    ``layout.importance_factors()`` (layer-normalised) on the piece's positions.
    """
    if q.dim() != 3 or q.shape[2] != layout.positions:
        raise ValueError(
            f"weight: expected a packed Q (K, C, {layout.positions}), got {tuple(q.shape)}"
        )
    f_hat = layout.importance_factors()
    maps = []
    for index, (piece, qp) in enumerate(zip(layout.pieces, layout.piece_weights(q), strict=True)):
        zeros = (qp.detach() == 0).double().mean(dim=(0, 1))
        maps.append(
            {
                "piece": index,
                "label": piece_label(piece),
                "kernel": list(piece.kernel),
                "offset": list(piece.offset),
                "phase": list(piece.phase),
                "tile": list(piece.tile),
                "zeros": zeros.tolist(),
                "f_hat": f_hat[piece.positions].reshape(piece.tile).tolist(),
            }
        )
    return maps


def dwm_weight_zero_maps(
    weight: torch.Tensor,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    m: int = DEFAULT_DWM_M,
) -> tuple[list[list[float]], list[PieceMap]]:
    """(layer map (1, P), piece maps) of a DWM conv's weight: the packed Q (K, C, P) of a
    DWMConv2d, or a spatial (K, C, kh, kw) weight, packed as ``G1 W_piece G2^T`` per piece
    (exact zeros of a masked spatial weight survive the transform)."""
    layout = dwm_layout(kernel, stride, m)
    w = weight.detach()
    q = w if w.dim() == 3 else layout.to_winograd(w)
    row = (q == 0).double().mean(dim=(0, 1)).unsqueeze(0).tolist()
    return row, piece_zero_maps(q, layout)


def model_zero_maps(
    model: nn.Module,
    layers: Iterable[str],
    transform: WinogradTransform | None = None,
    dwm: bool = False,
) -> tuple[dict[str, list[list[float]]], dict[str, list[PieceMap]]]:
    """({layer: zero map}, {DWM layer: piece maps}) of the named layers.

    A DWMConv2d, and with ``dwm`` an nn.Conv2d that becomes one (strided, 1x1, other kernels):
    the (1, P) packed row and its piece maps; any other layer: its a x a map
    (``position_zero_map`` under ``transform``).
    """
    maps: dict[str, list[list[float]]] = {}
    pieces: dict[str, list[PieceMap]] = {}
    for name in layers:
        module = model.get_submodule(name)
        if isinstance(module, DWMConv2d):
            maps[name] = position_zero_map(module).tolist()
            pieces[name] = piece_zero_maps(module.weight, module.layout)
        elif dwm and isinstance(module, nn.Conv2d) and uses_dwm(module):
            kernel = (module.kernel_size[0], module.kernel_size[1])
            stride = (module.stride[0], module.stride[1])
            maps[name], pieces[name] = dwm_weight_zero_maps(module.weight, kernel, stride)
        else:
            maps[name] = position_zero_map(module, transform).tolist()
    return maps, pieces
