"""Floating-point error of Winograd tiles: the measurement protocol and the bound.

Protocol (related-methods-spec 4.5, the authors' code): per trial a kernel g (C, r, r) and an
input tile d (C, alpha, alpha) drawn from U[-1, 1] and rounded to the working dtype; the truth is
the direct correlation in float64 of those same values; the error is the L1 norm over the m x m
output tile, averaged over the trials. The Winograd tile ``Y = AT [sum_c (G g_c G^T) * (BT d_c
B)] A`` is computed with every operation rounded to the dtype, each dot product in ``order``
(natural: left to right; huffman: ``winograd.accurate``) and the channel sum ``sequential``,
``pairwise`` or in ``float64``. ``mixed``: the transforms in float64, only the element-wise
product in the dtype (spec 4.4).

Bound (spec 4.2, the standard first-order bound of the paper's structure; the paper's own
constants are NOT FOUND): ``||Y^ - Y|| <= c u ||AT||_F^2 ||G||_F^2 ||BT||_F^2 ||g|| ||d||`` in 2-D
with ``c = 2 (alpha' + beta' + gamma') + 1`` (max nonzeros per row of G, BT, AT) plus C
(sequential) or ceil(log2 C) (pairwise) for the channel sum; in 1-D the norms are not squared
and ``c = alpha' + beta' + gamma' + 1``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from winoprune.winograd.accurate import apply_rows, pairwise_sum
from winoprune.winograd.transforms import WinogradTransform

DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}
VARIANTS = ("natural", "huffman", "mixed")
CHANNEL_SUMS = ("sequential", "pairwise", "float64")


@dataclass(frozen=True)
class Trials:
    """Kernels g (N, C, r, r) and input tiles d (N, C, a, a) in float64, already rounded."""

    g: torch.Tensor
    d: torch.Tensor


def draw_trials(
    tf: WinogradTransform, trials: int, seed: int, dtype: str = "float32", channels: int = 1
) -> Trials:
    """U[-1, 1] kernels and input tiles for ``tf``, fixed seed, rounded to ``dtype``."""
    if trials < 1:
        raise ValueError(f"trials: must be >= 1, got {trials}")
    gen = torch.Generator().manual_seed(seed)
    shape_g = (trials, channels, tf.r, tf.r)
    shape_d = (trials, channels, tf.alpha, tf.alpha)
    g = torch.rand(shape_g, generator=gen, dtype=torch.float64) * 2 - 1
    d = torch.rand(shape_d, generator=gen, dtype=torch.float64) * 2 - 1
    lowp = DTYPES[dtype]
    return Trials(g.to(lowp).double(), d.to(lowp).double())


def direct_tile(g: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """Valid correlation of d (N, C, a, a) with g (N, C, r, r), summed over C -> (N, m, m)."""
    r = g.shape[-1]
    patches = d.unfold(2, r, 1).unfold(3, r, 1)  # (N, C, m, m, r, r)
    return torch.einsum("ncijkl,nckl->nij", patches, g)


def _two_sided(mat: torch.Tensor, x: torch.Tensor, order: str) -> torch.Tensor:
    """``mat X mat^T`` over the last two dims of x, each dot product in ``order``."""
    return apply_rows(mat, apply_rows(mat, x, order, dim=-2), order, dim=-1)


def _channel_sum(m: torch.Tensor, how: str) -> torch.Tensor:
    if how == "float64":
        return m.double().sum(dim=1)
    if how == "pairwise":
        return pairwise_sum(m, dim=1)
    out = m[:, 0]
    for c in range(1, m.shape[1]):
        out = out + m[:, c]
    return out


def winograd_tile(
    tf: WinogradTransform,
    data: Trials,
    dtype: str = "float32",
    variant: str = "natural",
    channel_sum: str = "sequential",
) -> torch.Tensor:
    """The Winograd output tiles (N, m, m) in float64, computed in ``dtype`` (module docstring)."""
    if variant not in VARIANTS:
        raise ValueError(f"variant: must be one of {VARIANTS}, got {variant!r}")
    if channel_sum not in CHANNEL_SUMS:
        raise ValueError(f"channel_sum: must be one of {CHANNEL_SUMS}, got {channel_sum!r}")
    lowp = DTYPES[dtype]
    work = torch.float64 if variant == "mixed" else lowp
    order = "natural" if variant == "natural" else "huffman"
    at, g_mat, bt = (t.to(work) for t in (tf.AT, tf.G, tf.BT))
    u = _two_sided(g_mat, data.g.to(work), order)
    v = _two_sided(bt, data.d.to(work), order)
    prod = u.to(lowp) * v.to(lowp)
    m = _channel_sum(prod, channel_sum).to(work)
    return _two_sided(at, m, order).double()


def l1_error(y: torch.Tensor, ref: torch.Tensor) -> float:
    """Mean over trials of the L1 norm of the tile error (inf/NaN results give inf)."""
    err = (y - ref).abs().sum(dim=(-2, -1)).mean().item()
    return err if math.isfinite(err) else math.inf


def tile_error(
    tf: WinogradTransform,
    trials: int = 1000,
    seed: int = 0,
    dtype: str = "float32",
    variant: str = "natural",
    channels: int = 1,
    channel_sum: str = "sequential",
) -> float:
    """The protocol's mean L1 error of ``tf`` (module docstring)."""
    data = draw_trials(tf, trials, seed, dtype, channels)
    ref = direct_tile(data.g, data.d)
    return l1_error(winograd_tile(tf, data, dtype, variant, channel_sum), ref)


def direct_error(
    tf: WinogradTransform, trials: int = 1000, seed: int = 0, dtype: str = "float32"
) -> float:
    """The same protocol for direct correlation in ``dtype`` (sequential sums): the baseline."""
    data = draw_trials(tf, trials, seed, dtype)
    ref = direct_tile(data.g, data.d)
    lowp = DTYPES[dtype]
    r = tf.r
    patches = data.d.to(lowp).unfold(2, r, 1).unfold(3, r, 1)[:, 0]  # (N, m, m, r, r)
    g = data.g.to(lowp)[:, 0, None, None]  # (N, 1, 1, r, r)
    prods = (patches * g).flatten(-2)
    out = prods[..., 0]
    for j in range(1, prods.shape[-1]):
        out = out + prods[..., j]
    return l1_error(out.double(), ref)


def norm_product(tf: WinogradTransform, dims: int = 2) -> float:
    """``||AT||_F ||G||_F ||BT||_F`` (1-D) or its square (2-D)."""
    product = math.prod(torch.linalg.matrix_norm(t).item() for t in (tf.AT, tf.G, tf.BT))
    return product**dims


def bound_constant(
    tf: WinogradTransform, dims: int = 2, channels: int = 1, pairwise: bool = False
) -> int:
    """The bound's constant (module docstring)."""
    nnz = sum(int((t != 0).sum(dim=1).max().item()) for t in (tf.G, tf.BT, tf.AT))
    base = nnz + 1 if dims == 1 else 2 * nnz + 1
    if channels > 1:
        base += math.ceil(math.log2(channels)) if pairwise else channels
    return base


def error_bound(
    tf: WinogradTransform,
    dtype: str = "float32",
    dims: int = 2,
    channels: int = 1,
    pairwise: bool = False,
) -> float:
    """First-order bound on ``||Y^ - Y||_2 / (||g||_2 ||d||_2)`` in ``dtype`` (unit roundoff u)."""
    u = torch.finfo(DTYPES[dtype]).eps / 2
    return bound_constant(tf, dims, channels, pairwise) * u * norm_product(tf, dims)
