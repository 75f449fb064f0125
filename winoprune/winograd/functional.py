"""Winograd-domain convolution: weight transform, tiling, the batched GEMM and cropping.

Shapes: input x (N, C, H, W); Winograd weights q (K, C, alpha, alpha); output (N, K, Ho, Wo) with
``Ho = H + 2 * padding - r + 1``. Per tile ``Y = AT [ sum_c Q_kc * (BT d_c B) ] A`` (paper-spec 1).

Layout (chosen so that every step is one large GEMM or one copy, measured on CPU): the batch is
cut into chunks of about CHUNK_BYTES of transformed tiles on the CPU (cache-resident, no page
faults on reuse) and of up to GPU_CHUNK_BYTES on other devices (where every chunk costs kernel
launches, not cache misses). Per chunk the a x a input tiles are gathered once into D (a*a, P,
C), P = n * th * tw; the input transform ``BT d B`` is ``kron(BT, BT) @ D`` on the (a*a, P*C)
view (two a x a passes for a > 4); the channel sum is one batched GEMM over the a*a positions
``M_s = Q_s V_s^T`` (K, P); the output transform is ``kron(AT, AT) @ M``, and one copy scatters
the m x m tiles into y. The backward pass is hand-written and mirrors these steps (see
``_WinogradConv``); ``_tiled_forward`` and ``_tiled_backward`` hold both passes' steps for it and
for the Winograd-domain ReLU layer (``winograd.relu``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import torch
import torch.nn.functional as F

from winoprune.winograd.accurate import Summation, channel_product, transform_tile_pair
from winoprune.winograd.tiling import (
    Geometry,
    batch_chunks,
    channels_inner_tiles,
    geometry,
    grad_tiles,
    input_tiles,
    memory_format,
    output_size,
    overlap_add,
    write_output,
)
from winoprune.winograd.transforms import WinogradTransform


@lru_cache(maxsize=256)
def transform_matrices(
    tf: WinogradTransform, device: torch.device, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(AT, G, BT) of ``tf`` on a device and dtype, cached (they are tiny and constant)."""
    return (
        tf.AT.to(device=device, dtype=dtype),
        tf.G.to(device=device, dtype=dtype),
        tf.BT.to(device=device, dtype=dtype),
    )


@dataclass(frozen=True)
class _FlatTransforms:
    """The 2-D tile transforms as matrices on flattened tiles, and their transposes.

    ``out_t = kron(AT, AT)`` (m*m, a*a), ``in_t = kron(BT, BT)`` (a*a, a*a). The transposes are
    stored contiguous because a GEMM with a transposed small left operand is several times slower.
    """

    out_t: torch.Tensor
    out_t_adj: torch.Tensor
    in_t: torch.Tensor
    in_t_adj: torch.Tensor
    bt: torch.Tensor
    bt_adj: torch.Tensor
    at: torch.Tensor
    at_adj: torch.Tensor


@lru_cache(maxsize=256)
def _flat_transforms(
    tf: WinogradTransform, device: torch.device, dtype: torch.dtype
) -> _FlatTransforms:
    """Built in float64 and rounded once, so each entry is the exact product of two entries."""
    ka, kb = torch.kron(tf.AT, tf.AT), torch.kron(tf.BT, tf.BT)
    return _FlatTransforms(
        *(
            t.contiguous().to(device=device, dtype=dtype)
            for t in (ka, ka.t(), kb, kb.t(), tf.BT, tf.BT.t(), tf.AT, tf.AT.t())
        )
    )


def separable_transform(one_d: torch.Tensor, tiles: torch.Tensor) -> torch.Tensor:
    """``one_d d one_d^T`` of flattened tiles d (a*a, R) in two a x a passes, rows then columns.

    Unlike one pass of ``kron(one_d, one_d)``, each pass sums a few small-integer multiples of
    one row or column, so an entry that cancels exactly on constant image regions comes out
    exactly 0 (the Winograd-ReLU layer's activation counts rely on it: ``winograd.relu``).
    """
    a = one_d.shape[0]
    half = (one_d @ tiles.view(a, -1)).view(a, a, -1)
    return torch.matmul(one_d, half).view(a * a, -1)


def _two_pass_transform(one_d: torch.Tensor, tiles: torch.Tensor) -> torch.Tensor:
    """``one_d d one_d^T`` of flattened tiles d (b*b, R) -> (o*o, R), one_d (o, b): two batched
    GEMMs, the first over the tiles' columns (strided batches, no copy), the second over the
    first's output rows. Faster than one (o, b) @ (b, b*R) GEMM, whose o rows are too few."""
    o, b = one_d.shape
    half = torch.bmm(one_d.expand(b, o, b), tiles.view(b, b, -1).transpose(0, 1))  # (b, o, R)
    return torch.bmm(one_d.expand(o, o, b), half.transpose(0, 1)).view(o * o, -1)


def _transform_tiles(kron: torch.Tensor, one_d: torch.Tensor, tiles: torch.Tensor) -> torch.Tensor:
    """``kron(one_d, one_d) @ tiles``: one_d (o, b) along both tile axes of tiles (b*b, R).

    For 6 x 6 tiles and larger two passes of small GEMMs (``_two_pass_transform``, o + b
    multiply-adds per entry) beat one pass of the Kronecker product (b^2 per entry); for
    F(2,3)'s 4 x 4 tiles the single pass wins.
    """
    if max(one_d.shape) <= 4:
        return kron @ tiles
    return _two_pass_transform(one_d, tiles)


def to_winograd(w: torch.Tensor, tf: WinogradTransform) -> torch.Tensor:
    """Spatial weights w (K, C, r, r) -> Winograd weights ``Q = G w G^T`` (K, C, alpha, alpha)."""
    if w.dim() != 4 or w.shape[-1] != tf.r or w.shape[-2] != tf.r:
        raise ValueError(
            f"weight: expected shape (K, C, {tf.r}, {tf.r}) for {tf.name}, got {tuple(w.shape)}"
        )
    _, g, _ = transform_matrices(tf, w.device, w.dtype)
    return g @ w @ g.transpose(0, 1)


# V (a*a, P, C) of one batch chunk -> the tiles that enter the GEMM (e.g. rectified ones)
TileHook = Callable[[torch.Tensor, Geometry], torch.Tensor]


def _tiled_forward(
    ctx: Any,
    x: torch.Tensor,
    q: torch.Tensor,
    bias: torch.Tensor | None,
    tf: WinogradTransform,
    pad: int,
    keep_v: bool,
    *,
    separable: bool = False,
    on_tiles: TileHook | None = None,
    mask_grad: bool = False,
    sums: Summation | None = None,
) -> torch.Tensor:
    """The forward steps of ``_WinogradConv`` (and of ``winograd.relu``'s layer), chunk by chunk:
    gather D, ``V = BT d B`` (``separable``: always two a x a passes), ``V' = on_tiles(V)``,
    ``M_s = Q_s V'_s^T``, ``Y = kron(AT, AT) M`` scattered into y (N, K, Ho, Wo). ``keep_v``
    saves V' for the backward pass; ``mask_grad`` makes it mask dV with ``V' > 0``; ``sums``:
    the channel sum and transform order of ``winograd.accurate`` (forward only)."""
    geo, fmt = geometry(x, q, tf, pad), memory_format(x)
    a, m = geo.a, geo.m
    flat = _flat_transforms(tf, x.device, x.dtype)
    # Q_s (K, C) per position s; contiguous, else bmm falls back to a slow per-matrix loop
    q_pos = q.permute(2, 3, 0, 1).contiguous().view(a * a, geo.k, geo.c)
    hp, wp = geo.padded
    xp = F.pad(x, (pad, wp - geo.w - pad, pad, hp - geo.h - pad))
    out = torch.empty(
        (geo.n, geo.k, geo.th * m, geo.tw * m),
        dtype=x.dtype,
        device=x.device,
        memory_format=fmt,
    )
    # short tile rows: the GEMM writes (a*a, P, K), whose scatter copies runs of K (not of tw)
    channels_inner = sums is None and channels_inner_tiles(geo)
    saved = []
    for n0, part in batch_chunks(geo, x.element_size(), x.device):
        d = input_tiles(xp[n0 : n0 + part.n], part).view(a * a, -1)
        if sums is not None and sums.order == "huffman":
            v = transform_tile_pair(flat.bt, d, "huffman").view(a * a, part.tiles, geo.c)
        elif separable:
            v = separable_transform(flat.bt, d).view(a * a, part.tiles, geo.c)
        else:
            v = _transform_tiles(flat.in_t, flat.bt, d).view(a * a, part.tiles, geo.c)
        if on_tiles is not None:
            v = on_tiles(v, part)
        if channels_inner:
            prod = torch.bmm(v, q_pos.transpose(1, 2))  # (a*a, P, K)
        else:
            prod = channel_product(q_pos, v, sums.channel_sum if sums else "blas")  # (a*a, K, P)
        if sums is not None and sums.order == "huffman":
            at = transform_matrices(tf, x.device, x.dtype)[0]
            y_tiles = transform_tile_pair(at, prod.view(a * a, -1), "huffman")
        else:
            y_tiles = _transform_tiles(flat.out_t, flat.at, prod.view(a * a, -1))  # (m*m, K*P)
        write_output(y_tiles, bias, part, out[n0 : n0 + part.n], channels_inner=channels_inner)
        saved.append(v if keep_v else None)
    ctx.geo, ctx.fmt, ctx.tf, ctx.has_bias = geo, fmt, tf, bias is not None
    ctx.mask_grad = mask_grad
    ctx.saved_v = saved
    ctx.save_for_backward(q_pos)
    if out.shape[2:] != (geo.ho, geo.wo):
        return out[:, :, : geo.ho, : geo.wo].contiguous(memory_format=fmt)
    return out


def _tiled_backward(
    ctx: Any, grad_y: torch.Tensor
) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
    """(grad_x, grad_q, grad_bias) of ``_tiled_forward``: ``dM = kron(AT, AT)^T dY``,
    ``dQ_s = dM_s V'_s``, ``dV_s = dM_s^T Q_s`` (times ``1[V' > 0]`` with ``mask_grad``),
    ``dD = kron(BT, BT)^T dV`` overlap-added into dx."""
    geo, fmt, saved_v = ctx.geo, ctx.fmt, ctx.saved_v
    (q_pos,) = ctx.saved_tensors
    a, m = geo.a, geo.m
    flat = _flat_transforms(ctx.tf, grad_y.device, grad_y.dtype)
    grad_y = grad_y.contiguous(memory_format=fmt)
    tiled = grad_y
    if (geo.th * m, geo.tw * m) != (geo.ho, geo.wo):
        tiled = F.pad(grad_y, (0, geo.tw * m - geo.wo, 0, geo.th * m - geo.ho))
    need_x, need_q, need_bias = ctx.needs_input_grad[:3]
    grad_x = None
    if need_x:
        shape = (geo.n, geo.c, geo.h, geo.w)
        grad_x = torch.empty(shape, dtype=grad_y.dtype, device=grad_y.device, memory_format=fmt)
    d_q = q_pos.new_zeros(q_pos.shape) if need_q else None  # (a*a, K, C)
    chunks = batch_chunks(geo, grad_y.element_size(), grad_y.device)
    channels_inner = channels_inner_tiles(geo)
    for (n0, part), v in zip(chunks, saved_v, strict=True):
        dy = grad_tiles(tiled[n0 : n0 + part.n], part, channels_inner=channels_inner)
        d_prod = _transform_tiles(flat.out_t_adj, flat.at_adj, dy.view(m * m, -1))
        if channels_inner:  # dM as (a*a, P, K)
            d_prod = d_prod.view(a * a, part.tiles, geo.k).transpose(1, 2)
        else:
            d_prod = d_prod.view(a * a, geo.k, part.tiles)
        if grad_x is not None:
            d_v = torch.bmm(d_prod.transpose(1, 2), q_pos)  # (a*a, P, C)
            if ctx.mask_grad:
                d_v.masked_fill_(v <= 0, 0.0)
            d_tiles = _transform_tiles(flat.in_t_adj, flat.bt_adj, d_v.view(a * a, -1))
            tile_shape = (a, a, part.n, part.th, part.tw, geo.c)
            overlap_add(d_tiles.view(tile_shape), part, grad_x[n0 : n0 + part.n])
        if d_q is not None:
            d_q.baddbmm_(d_prod, v)
    grad_q = None
    if d_q is not None:
        grad_q = d_q.view(a, a, geo.k, geo.c).permute(2, 3, 0, 1).contiguous()
    grad_bias = grad_y.sum(dim=(0, 2, 3)) if ctx.has_bias and need_bias else None
    return grad_x, grad_q, grad_bias


class _WinogradConv(torch.autograd.Function):
    """y = winograd_conv2d(x, q, bias) with a hand-written backward, in batch chunks.

    Per Winograd position s, with V_s (P, C) the transformed input tiles and Q_s (K, C):
    ``M_s = Q_s V_s^T`` (K, P) and ``Y = kron(AT, AT) M``. The adjoints are
    ``dM = kron(AT, AT)^T dY``, ``dQ_s = dM_s V_s``, ``dV_s = dM_s^T Q_s`` and
    ``dD = kron(BT, BT)^T dV``; dD holds the gradients of the overlapping input tiles, which are
    summed back into dx (the adjoint of the tile gather).
    """

    @staticmethod
    def forward(
        ctx: Any,
        x: torch.Tensor,
        q: torch.Tensor,
        bias: torch.Tensor | None,
        tf: WinogradTransform,
        pad: int,
        sums: Summation | None = None,
    ) -> torch.Tensor:
        keep_v = ctx.needs_input_grad[1]
        return _tiled_forward(ctx, x, q, bias, tf, pad, keep_v=keep_v, sums=sums)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad_y: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        return (*_tiled_backward(ctx, grad_y), None, None, None)


def winograd_conv2d(
    x: torch.Tensor,
    q: torch.Tensor,
    tf: WinogradTransform,
    bias: torch.Tensor | None = None,
    padding: int | None = None,
    sums: Summation | None = None,
) -> torch.Tensor:
    """Stride-1 cross-correlation of x (N, C, H, W) with Winograd weights q (K, C, a, a).

    Equals ``F.conv2d(x, w, bias, padding=padding)`` when ``q = to_winograd(w, tf)``. The input is
    zero-padded to whole m x m output tiles, transformed (``V = BT d B``), multiplied by q in one
    batched GEMM over the a*a positions (``M = Q V`` summing over channels) and transformed back
    (``Y = AT M A``); the extra rows and columns are cropped. ``padding`` defaults to r // 2.
    Device and dtype follow x; gradients flow to x, q and bias. ``sums``: channel-sum and
    transform-order options (``winograd.accurate.Summation``; None: the GEMM's order).
    """
    pad = tf.r // 2 if padding is None else padding
    _check_inputs(x, q, tf, bias, pad)
    options = None if sums is None or sums.is_default else sums
    return _WinogradConv.apply(x, q, bias, tf, pad, options)


def _check_inputs(
    x: torch.Tensor,
    q: torch.Tensor,
    tf: WinogradTransform,
    bias: torch.Tensor | None,
    pad: int,
) -> None:
    a = tf.alpha
    if x.dim() != 4:
        raise ValueError(f"input: expected a 4-D tensor (N, C, H, W), got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"input: expected a floating-point tensor, got {x.dtype}")
    if q.dim() != 4 or q.shape[-1] != a or q.shape[-2] != a:
        raise ValueError(
            f"weight: expected Winograd weights (K, C, {a}, {a}) for {tf.name}, "
            f"got {tuple(q.shape)}"
        )
    if q.dtype != x.dtype or q.device != x.device:
        raise TypeError(
            f"weight: dtype/device {q.dtype}/{q.device} differ from the input's "
            f"{x.dtype}/{x.device}"
        )
    if q.shape[1] != x.shape[1]:
        raise ValueError(f"input: has {x.shape[1]} channels but the weight expects {q.shape[1]}")
    if isinstance(pad, bool) or not isinstance(pad, int) or pad < 0:
        raise ValueError(f"padding: must be an integer >= 0, got {pad!r}")
    ho, wo = output_size(x.shape[2], tf.r, pad), output_size(x.shape[3], tf.r, pad)
    if ho < 1 or wo < 1:
        raise ValueError(
            f"input: spatial size {tuple(x.shape[2:])} with padding {pad} is smaller than the "
            f"{tf.r}x{tf.r} kernel"
        )
    if bias is not None and bias.shape != (q.shape[0],):
        raise ValueError(f"bias: expected shape ({q.shape[0]},), got {tuple(bias.shape)}")
