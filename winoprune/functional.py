"""Winograd-domain convolution: weight transform, tiling, the batched GEMM and cropping.

Shapes: input x (N, C, H, W); Winograd weights q (K, C, alpha, alpha); output (N, K, Ho, Wo) with
``Ho = H + 2 * padding - r + 1``. Per tile ``Y = AT [ sum_c Q_kc * (BT d_c B) ] A`` (paper-spec 1).
"""

from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F

from winoprune.transforms import WinogradTransform


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


def to_winograd(w: torch.Tensor, tf: WinogradTransform) -> torch.Tensor:
    """Spatial weights w (K, C, r, r) -> Winograd weights ``Q = G w G^T`` (K, C, alpha, alpha)."""
    if w.dim() != 4 or w.shape[-1] != tf.r or w.shape[-2] != tf.r:
        raise ValueError(
            f"weight: expected shape (K, C, {tf.r}, {tf.r}) for {tf.name}, got {tuple(w.shape)}"
        )
    _, g, _ = transform_matrices(tf, w.device, w.dtype)
    return g @ w @ g.transpose(0, 1)


def output_size(size: int, r: int, padding: int) -> int:
    return size + 2 * padding - r + 1


def winograd_conv2d(
    x: torch.Tensor,
    q: torch.Tensor,
    tf: WinogradTransform,
    bias: torch.Tensor | None = None,
    padding: int | None = None,
) -> torch.Tensor:
    """Stride-1 cross-correlation of x (N, C, H, W) with Winograd weights q (K, C, a, a).

    Equals ``F.conv2d(x, w, bias, padding=padding)`` when ``q = to_winograd(w, tf)``. The input is
    zero-padded to whole m x m output tiles, transformed (``V = BT d B``), multiplied by q in one
    batched GEMM over the a*a positions (``M = Q V`` summing over channels) and transformed back
    (``Y = AT M A``); the extra rows and columns are cropped. ``padding`` defaults to r // 2.
    """
    m, r, a = tf.m, tf.r, tf.alpha
    pad = r // 2 if padding is None else padding
    _check_inputs(x, q, tf, bias, pad)
    n, c, h, w = x.shape
    k = q.shape[0]
    ho, wo = output_size(h, r, pad), output_size(w, r, pad)
    th, tw = -(-ho // m), -(-wo // m)
    hp, wp = th * m + r - 1, tw * m + r - 1
    xp = F.pad(x, (pad, wp - w - pad, pad, hp - h - pad))

    at, _, bt = transform_matrices(tf, x.device, x.dtype)
    tiles = xp.unfold(2, a, m).unfold(3, a, m)  # (N, C, th, tw, a, a)
    v = bt @ tiles @ bt.transpose(0, 1)  # (N, C, th, tw, a, a)
    v = v.permute(4, 5, 1, 0, 2, 3).reshape(a * a, c, n * th * tw)
    qm = q.permute(2, 3, 0, 1).reshape(a * a, k, c)
    prod = torch.bmm(qm, v)  # (a*a, K, N*th*tw)
    prod = prod.reshape(a, a, k, n, th, tw).permute(3, 2, 4, 5, 0, 1)  # (N, K, th, tw, a, a)
    y = at @ prod @ at.transpose(0, 1)  # (N, K, th, tw, m, m)
    y = y.permute(0, 1, 2, 4, 3, 5).reshape(n, k, th * m, tw * m)[:, :, :ho, :wo]
    if bias is not None:
        y = y + bias.view(1, k, 1, 1)
    return y


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
    if q.dim() != 4 or q.shape[-1] != a or q.shape[-2] != a:
        raise ValueError(
            f"weight: expected Winograd weights (K, C, {a}, {a}) for {tf.name}, "
            f"got {tuple(q.shape)}"
        )
    if q.shape[1] != x.shape[1]:
        raise ValueError(f"input: has {x.shape[1]} channels but the weight expects {q.shape[1]}")
    if not isinstance(pad, int) or pad < 0:
        raise ValueError(f"padding: must be an integer >= 0, got {pad!r}")
    ho, wo = output_size(x.shape[2], tf.r, pad), output_size(x.shape[3], tf.r, pad)
    if ho < 1 or wo < 1:
        raise ValueError(
            f"input: spatial size {tuple(x.shape[2:])} with padding {pad} is smaller than the "
            f"{tf.r}x{tf.r} kernel"
        )
    if bias is not None and bias.shape != (q.shape[0],):
        raise ValueError(f"bias: expected shape ({q.shape[0]},), got {tuple(bias.shape)}")
