"""DWM (Huang et al., AAAI 2020): strided and large-kernel convolutions as sums of small
stride-1 Winograd convolutions (related-methods-spec 2.2-2.4).

Phase split (stride s): with X~ the zero-padded input, for every phase (alpha, beta) in
[0, s_h) x [0, s_w), ``X_ab[i, j] = X~[s_h i + alpha, s_w j + beta]`` and
``W_ab[u, v] = W[s_h u + alpha, s_w v + beta]``; then ``Y = sum_ab conv_valid(X_ab, W_ab)``.
Kernel split: every sub-kernel side r is cut into pieces [0, 3), [3, 6), ... plus the remainder
(4 is cut 2 + 2), and the 2-D pieces are their products; a piece at offset (h0, w0) correlates
the phase input shifted by (h0, w0). Each piece runs as F(m x m, r1 x r2) (``winograd.rect``,
m = 2 by default as in the DWM code) and the outputs are summed.

The layer's parameter packs the Winograd weights of all pieces: ``weight`` (K, C, P) with
P = sum over pieces of a1 * a2; ``DWMLayout.pieces[i].positions`` is each piece's slice.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn

from winoprune.winograd.convert import check_channels, load_conv, spatial_conv, zero_bias
from winoprune.winograd.rect import (
    RectTransform,
    rect_to_winograd,
    rect_transform,
    rect_winograd_conv2d,
)

DEFAULT_DWM_M = 2  # the DWM code runs every piece with F(2, r_i) (related-methods-spec 2.2)
Pair = tuple[int, int]


def split_1d(r: int) -> tuple[Pair, ...]:
    """Pieces [start, end) of a kernel side r: 3-wide from the start plus the remainder; 4 is
    2 + 2 (the DWM code's ``splitControl``)."""
    if r < 1:
        raise ValueError(f"kernel_size: must be >= 1, got {r}")
    if r == 4:
        return ((0, 2), (2, 4))
    return tuple((s, min(s + 3, r)) for s in range(0, r, 3))


@dataclass(frozen=True)
class Piece:
    """One stride-1 piece: its phase, its offset in the phase sub-kernel, its transform and its
    slice ``positions`` of the packed weight. ``rows``/``cols``: the original kernel taps."""

    phase: Pair
    offset: Pair
    transform: RectTransform
    positions: slice
    rows: tuple[int, ...]
    cols: tuple[int, ...]

    @property
    def kernel(self) -> Pair:
        return self.transform.kernel

    @property
    def tile(self) -> Pair:
        return self.transform.tile


@dataclass(frozen=True)
class DWMLayout:
    """The pieces of a kh x kw kernel at stride (s_h, s_w) with output tiles m x m."""

    kernel: Pair
    stride: Pair
    m: int
    pieces: tuple[Piece, ...]

    @property
    def positions(self) -> int:
        """P: Winograd positions of all pieces, the last dimension of the packed weight."""
        return self.pieces[-1].positions.stop

    @property
    def multiplications_per_tile(self) -> int:
        """Element-wise products per m x m output tile per (k, c) pair: sum of a1 * a2."""
        return self.positions

    def to_winograd(self, w: torch.Tensor) -> torch.Tensor:
        """Spatial w (K, C, kh, kw) -> packed Q (K, C, P): ``G1 W_piece G2^T`` per piece."""
        if w.dim() != 4 or tuple(w.shape[2:]) != self.kernel:
            raise ValueError(
                f"weight: expected (K, C, {self.kernel[0]}, {self.kernel[1]}), got {tuple(w.shape)}"
            )
        parts = [
            rect_to_winograd(w[:, :, list(p.rows)][:, :, :, list(p.cols)], p.transform)
            for p in self.pieces
        ]
        return torch.cat([q.flatten(2) for q in parts], dim=2)

    def piece_weights(self, q: torch.Tensor) -> list[torch.Tensor]:
        """Views (K, C, a1, a2) of each piece in a packed q (K, C, P)."""
        return [q[:, :, p.positions].unflatten(2, p.tile) for p in self.pieces]

    def to_spatial(self, q: torch.Tensor) -> tuple[torch.Tensor, float]:
        """Least-squares W (K, C, kh, kw) with ``to_winograd(W)`` closest to q (float64), and
        the relative residual. Each tap lies in exactly one piece, so pieces invert apart."""
        qd = q.detach().double()
        w = qd.new_zeros((*q.shape[:2], *self.kernel))
        for p, qp in zip(self.pieces, self.piece_weights(qd), strict=True):
            g1 = torch.linalg.pinv(p.transform.rows.G.to(qd.device))
            g2 = torch.linalg.pinv(p.transform.cols.G.to(qd.device))
            w[:, :, torch.tensor(p.rows)[:, None], torch.tensor(p.cols)[None, :]] = (
                g1 @ qp @ g2.transpose(0, 1)
            )
        residual = (self.to_winograd(w) - qd).norm() / qd.norm().clamp_min(1e-30)
        return w, float(residual)

    def raw_importance_factors(self) -> torch.Tensor:
        """(P,) float64: per piece ``F_ij = f1_i f2_j``, f = ||BT[i, :]|| ||AT[:, i]||."""
        parts = []
        for p in self.pieces:
            rows, cols = p.transform.rows, p.transform.cols
            f1 = rows.BT.norm(dim=1) * rows.AT.norm(dim=0)
            f2 = cols.BT.norm(dim=1) * cols.AT.norm(dim=0)
            parts.append(torch.outer(f1, f2).flatten())
        return torch.cat(parts)

    def importance_factors(self, normalise: str = "layer") -> torch.Tensor:
        """(P,) F_hat: the raw factors over their minimum in the layer ("layer", the default:
        ``|Q| F`` is the expected output change of every piece alike, so one scale keeps pieces
        comparable under one threshold) or in each piece ("piece")."""
        raw = self.raw_importance_factors()
        if normalise == "layer":
            return raw / raw.min()
        if normalise == "piece":
            return torch.cat([raw[p.positions] / raw[p.positions].min() for p in self.pieces])
        raise ValueError(f"normalise: must be 'layer' or 'piece', got {normalise!r}")


@lru_cache(maxsize=128)
def dwm_layout(kernel: Pair, stride: Pair = (1, 1), m: int = DEFAULT_DWM_M) -> DWMLayout:
    """The pieces of a kh x kw kernel at a stride: phases, then row pieces, then column pieces.

    Phase (a, b) holds taps ``W[s_h u + a, s_w v + b]`` (ceil((kh - a) / s_h) rows); each phase
    sub-kernel is split by ``split_1d`` on both sides. Phases with no tap are skipped.
    """
    (kh, kw), (sh, sw) = kernel, stride
    if min(kh, kw) < 1 or min(sh, sw) < 1:
        raise ValueError(f"kernel_size/stride: must be >= 1, got {kernel} / {stride}")
    pieces: list[Piece] = []
    start = 0
    for alpha in range(min(sh, kh)):
        for beta in range(min(sw, kw)):
            sub_h, sub_w = -(-(kh - alpha) // sh), -(-(kw - beta) // sw)
            for h0, h1 in split_1d(sub_h):
                for w0, w1 in split_1d(sub_w):
                    tf = rect_transform(m, h1 - h0, w1 - w0)
                    stop = start + tf.multiplications
                    rows = tuple(alpha + sh * u for u in range(h0, h1))
                    cols = tuple(beta + sw * v for v in range(w0, w1))
                    pieces.append(
                        Piece((alpha, beta), (h0, w0), tf, slice(start, stop), rows, cols)
                    )
                    start = stop
    return DWMLayout(kernel, stride, m, tuple(pieces))


def dwm_output_size(size: int, r: int, stride: int, padding: int) -> int:
    """``floor((size + 2 padding - r) / stride) + 1``, as F.conv2d."""
    return (size + 2 * padding - r) // stride + 1


def dwm_conv2d(
    x: torch.Tensor,
    q: torch.Tensor,
    layout: DWMLayout,
    bias: torch.Tensor | None = None,
    padding: Pair = (0, 0),
) -> torch.Tensor:
    """``F.conv2d(x, W, bias, stride, padding)`` from packed Winograd weights q (K, C, P).

    x (N, C, H, W) -> (N, K, Ho, Wo), ``Ho = floor((H + 2 p_h - kh) / s_h) + 1``. Pad once,
    then for every piece: ``y += WinoValid(X~[a::s_h, b::s_w][h0 : h0 + Ho + r1 - 1,
    w0 : w0 + Wo + r2 - 1], Q_piece)`` (the phase inputs always hold enough rows; the rest is
    never read). Gradients flow to x, q and bias.
    """
    (kh, kw), (sh, sw), (ph, pw) = layout.kernel, layout.stride, padding
    if x.dim() != 4 or q.dim() != 3 or q.shape[2] != layout.positions:
        raise ValueError(
            f"input: expected x (N, C, H, W) and q (K, C, {layout.positions}), got "
            f"{tuple(x.shape)} and {tuple(q.shape)}"
        )
    ho = dwm_output_size(x.shape[2], kh, sh, ph)
    wo = dwm_output_size(x.shape[3], kw, sw, pw)
    if ho < 1 or wo < 1:
        raise ValueError(
            f"input: spatial size {tuple(x.shape[2:])} with padding {padding} is smaller than "
            f"the {kh}x{kw} kernel"
        )
    xp = F.pad(x, (pw, pw, ph, ph))
    y: torch.Tensor | None = None
    for piece, qp in zip(layout.pieces, layout.piece_weights(q), strict=True):
        (alpha, beta), (h0, w0), (r1, r2) = piece.phase, piece.offset, piece.kernel
        xs = xp[:, :, alpha::sh, beta::sw][:, :, h0 : h0 + ho + r1 - 1, w0 : w0 + wo + r2 - 1]
        part = rect_winograd_conv2d(xs, qp, piece.transform)
        y = part if y is None else y + part
    assert y is not None
    return y if bias is None else y + bias.view(1, -1, 1, 1)


def dwm_ineligibility(conv: nn.Module) -> str | None:
    """Why ``conv`` cannot become a DWM layer (groups, dilation, padding mode), or None."""
    if not isinstance(conv, nn.Conv2d):
        return f"{type(conv).__name__} is not nn.Conv2d"
    if tuple(conv.dilation) != (1, 1):
        return f"dilation {tuple(conv.dilation)} is not 1"
    if conv.groups != 1:
        return f"groups={conv.groups} is not 1"
    if conv.padding_mode != "zeros":
        return f"padding_mode {conv.padding_mode!r} is not 'zeros'"
    if _padding(conv) is None:
        return f"padding {conv.padding!r} is not symmetric"
    return None


def _padding(conv: nn.Conv2d) -> Pair | None:
    pad = conv.padding
    if pad == "valid":
        return (0, 0)
    if pad == "same":
        kh, kw = conv.kernel_size
        return (kh // 2, kw // 2) if kh % 2 and kw % 2 else None
    assert isinstance(pad, tuple)
    return int(pad[0]), int(pad[1])


class DWMConv2d(nn.Module):
    """A conv of any kernel and stride as DWM pieces; ``weight`` is the packed Q (K, C, P)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Pair,
        stride: Pair = (1, 1),
        padding: Pair = (0, 0),
        bias: bool = True,
        m: int = DEFAULT_DWM_M,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_channels(in_channels, out_channels)
        if any(p < 0 for p in padding):
            raise ValueError(f"padding: must be >= 0, got {padding!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.layout = dwm_layout(tuple(kernel_size), tuple(stride), m)
        self.padding: Pair = (int(padding[0]), int(padding[1]))
        spatial = torch.empty(out_channels, in_channels, *self.layout.kernel, dtype=torch.float64)
        nn.init.kaiming_uniform_(spatial, a=5**0.5)
        q = self.layout.to_winograd(spatial).to(dtype or torch.get_default_dtype())
        self.weight = nn.Parameter(q.to(device))
        self.bias = zero_bias(out_channels, bias, device, dtype)

    @property
    def kernel_size(self) -> Pair:
        return self.layout.kernel

    @property
    def stride(self) -> Pair:
        return self.layout.stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dwm_conv2d(x, self.weight, self.layout, self.bias, self.padding)

    def extra_repr(self) -> str:
        kh, kw = self.layout.kernel
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size=({kh}, {kw}), "
            f"stride={self.stride}, padding={self.padding}, pieces={len(self.layout.pieces)}, "
            f"m={self.layout.m}, bias={self.bias is not None}"
        )

    def piece_weights(self) -> list[torch.Tensor]:
        """Views (K, C, a1, a2) of each piece's Winograd weights (see ``layout.pieces``)."""
        return self.layout.piece_weights(self.weight)

    @classmethod
    def from_conv2d(cls, conv: nn.Conv2d, m: int = DEFAULT_DWM_M) -> DWMConv2d:
        """Convert an nn.Conv2d (any kernel and stride; no groups or dilation)."""
        reason = dwm_ineligibility(conv)
        if reason:
            raise ValueError(f"conv: cannot convert to a DWM layer: {reason}")
        padding = _padding(conv)
        assert padding is not None
        layer = cls(
            conv.in_channels,
            conv.out_channels,
            (conv.kernel_size[0], conv.kernel_size[1]),
            (conv.stride[0], conv.stride[1]),
            padding,
            bias=conv.bias is not None,
            m=m,
            device=conv.weight.device,
            dtype=conv.weight.dtype,
        )
        load_conv(layer, layer.layout.to_winograd(conv.weight.detach().double()), conv)
        return layer

    def to_conv2d(self) -> nn.Conv2d:
        """The equivalent nn.Conv2d; raises ValueError when Q has no spatial equivalent."""
        w, residual = self.layout.to_spatial(self.weight)
        layout = self.layout
        return spatial_conv(
            self, w, residual, "the DWM pieces", layout.kernel, layout.stride, self.padding
        )
