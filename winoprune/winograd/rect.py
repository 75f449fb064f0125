"""Rectangular Winograd transforms F(m x m, r1 x r2) and the valid convolution that runs them.

F(m x m, r1 x r2) is the tensor product of the 1-D Toom-Cook transforms F(m, r1) (rows) and
F(m, r2) (columns) of ``winograd.transforms``: for an (m + r1 - 1) x (m + r2 - 1) input tile d
and an r1 x r2 kernel w::

    Q = G1 w G2^T                      (a1 x a2), a_i = m + r_i - 1
    Y = AT1 [ Q * (BT1 d BT2^T) ] AT2^T    (m x m)

is their valid cross-correlation. F(m, 1) is the identity (``AT = BT = I_m``, ``G`` all ones),
so a 1-wide kernel costs m multiplications per m outputs, as direct convolution does. This is
the DWM building block (related-methods-spec 2.2); the square, performance-tuned path for
WinogradConv2d stays in ``winograd.functional``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from winoprune.winograd.transforms import WinogradTransform, cook_toom


@dataclass(frozen=True)
class RectTransform:
    """F(m x m, r1 x r2): ``rows`` = F(m, r1) acts on kernel rows, ``cols`` = F(m, r2)."""

    rows: WinogradTransform
    cols: WinogradTransform

    def __post_init__(self) -> None:
        if self.rows.m != self.cols.m:
            raise ValueError(
                f"transform: row and column transforms need one m, got {self.rows.m} and "
                f"{self.cols.m}"
            )

    @property
    def m(self) -> int:
        return self.rows.m

    @property
    def kernel(self) -> tuple[int, int]:
        """(r1, r2)."""
        return self.rows.r, self.cols.r

    @property
    def tile(self) -> tuple[int, int]:
        """(a1, a2) = (m + r1 - 1, m + r2 - 1): the input tile and the shape of Q."""
        return self.rows.alpha, self.cols.alpha

    @property
    def name(self) -> str:
        return f"F({self.m}x{self.m},{self.rows.r}x{self.cols.r})"

    @property
    def multiplications(self) -> int:
        """Element-wise products per m x m output tile per (k, c) pair: a1 * a2."""
        return self.rows.alpha * self.cols.alpha


def rect_transform(m: int, r1: int, r2: int) -> RectTransform:
    """F(m x m, r1 x r2) from the default Toom-Cook points of F(m, r1) and F(m, r2)."""
    return RectTransform(cook_toom(m, r1), cook_toom(m, r2))


def _matrices(
    tf: RectTransform, device: torch.device, dtype: torch.dtype
) -> tuple[torch.Tensor, ...]:
    """(AT1, G1, BT1, AT2, G2, BT2) on a device and dtype."""
    return tuple(
        t.to(device=device, dtype=dtype)
        for t in (tf.rows.AT, tf.rows.G, tf.rows.BT, tf.cols.AT, tf.cols.G, tf.cols.BT)
    )


def rect_to_winograd(w: torch.Tensor, tf: RectTransform) -> torch.Tensor:
    """Spatial w (..., r1, r2) -> ``Q = G1 w G2^T`` (..., a1, a2), in w's dtype."""
    if w.dim() < 2 or tuple(w.shape[-2:]) != tf.kernel:
        raise ValueError(
            f"weight: expected (..., {tf.kernel[0]}, {tf.kernel[1]}) for {tf.name}, "
            f"got {tuple(w.shape)}"
        )
    _, g1, _, _, g2, _ = _matrices(tf, w.device, w.dtype)
    return g1 @ w @ g2.transpose(0, 1)


def rect_winograd_conv2d(x: torch.Tensor, q: torch.Tensor, tf: RectTransform) -> torch.Tensor:
    """Valid stride-1 cross-correlation of x (N, C, H, W) with Winograd weights q (K, C, a1, a2).

    Output (N, K, H - r1 + 1, W - r2 + 1); equals ``F.conv2d(x, w)`` when
    ``q = rect_to_winograd(w, tf)``. The input is zero-padded at the bottom and right to whole
    m x m output tiles, cut into overlapping a1 x a2 tiles (stride m), transformed
    (``V = BT1 d BT2^T``), multiplied by q and summed over channels per position
    (``M_kuv = sum_c Q_kcuv V_cuv``, one batched GEMM over the a1 * a2 positions) and transformed
    back (``Y = AT1 M AT2^T``); the surplus is cropped. Plain autograd ops: gradients flow to x
    and q.
    """
    r1, r2 = tf.kernel
    a1, a2 = tf.tile
    m = tf.m
    if x.dim() != 4 or q.dim() != 4 or tuple(q.shape[2:]) != (a1, a2):
        raise ValueError(
            f"input: expected x (N, C, H, W) and q (K, C, {a1}, {a2}), got {tuple(x.shape)} "
            f"and {tuple(q.shape)}"
        )
    if q.shape[1] != x.shape[1]:
        raise ValueError(f"input: has {x.shape[1]} channels but the weight expects {q.shape[1]}")
    n, c, h, w = x.shape
    ho, wo = h - r1 + 1, w - r2 + 1
    if ho < 1 or wo < 1:
        raise ValueError(f"input: spatial size {(h, w)} is smaller than the {r1}x{r2} kernel")
    th, tw = -(-ho // m), -(-wo // m)
    xp = F.pad(x, (0, tw * m + r2 - 1 - w, 0, th * m + r1 - 1 - h))
    at1, _, bt1, at2, _, bt2 = _matrices(tf, x.device, x.dtype)
    d = xp.unfold(2, a1, m).unfold(3, a2, m)  # (N, C, th, tw, a1, a2)
    v = bt1 @ d @ bt2.transpose(0, 1)
    # positions first: (a1*a2, N*th*tw, C) @ (a1*a2, C, K) -> (a1*a2, P, K)
    v_pos = v.permute(4, 5, 0, 2, 3, 1).reshape(a1 * a2, n * th * tw, c)
    q_pos = q.permute(2, 3, 1, 0).reshape(a1 * a2, c, q.shape[0])
    prod = torch.bmm(v_pos, q_pos).view(a1, a2, n, th, tw, q.shape[0])
    y = at1 @ prod.permute(2, 5, 3, 4, 0, 1) @ at2.transpose(0, 1)  # (N, K, th, tw, m, m)
    y = y.permute(0, 1, 2, 4, 3, 5).reshape(n, q.shape[0], th * m, tw * m)
    return y[:, :, :ho, :wo]
