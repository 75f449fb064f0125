"""Winograd algorithm for AdderNet (Li, Chen, Huang, Chen, Xu, Wang, ICML 2021;
related-methods-spec 3.2-3.4).

The element-wise product of the Winograd equation is replaced by the adder term. Per output
channel k and m x m output tile t, with the a x a input tile d_c (stride m, zero-padded)::

    Y[k, t] = AT ( - sum_c | U[k, c] - V[c, t] |^p ) A,     U = G g G^T,  V = BT d_c B

(element-wise |.|^p). It is not the spatial adder layer's output but a layer of its own, trained
in this form; p goes from 2 to 1 during training (``training.p_schedule``). The matrices are
passed in (``AdderTransform``). Li et al.'s designed matrices are NOT FOUND; two choices:

- ``standard``: the Toom-Cook matrices of ``winograd.transforms``;
- ``balanced`` (default): the same with column signs of AT (and the matching rows of G) flipped
  so that the row sums of AT are equal and positive. Every entry of ``-sum|U - V|`` is <= 0, so
  ``E[Y] = -mu (AT 1)(AT 1)^T``: equal row sums give the m*m outputs of a tile equal means.
  For F(2,3) this is spec 3.3's candidate ``AT = [[1, 1, -1, 0], [0, 1, 1, -1]]``. The flip
  keeps the multiplicative Winograd exact (``AT D``, ``D G`` with D = diag(+-1), D^2 = I).

Layout: the tiles are gathered with unfold (N, C*a*a, P) into V (a*a, P, C) and the channel sum
is a batched distance over the a*a positions (``adder.adder_distance``: cdist, with AdderNet's
gradient rules in ``grad_mode="addernet"``); the rest is autograd of plain tensor ops.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from winoprune.winograd.adder import (
    DEFAULT_ETA,
    GRAD_MODES,
    GradMode,
    adder_distance,
    scale_weight_grad,
)
from winoprune.winograd.transforms import WinogradTransform, standard_transform

TransformChoice = Literal["balanced", "standard"]
TRANSFORM_CHOICES: tuple[TransformChoice, ...] = ("balanced", "standard")
TrainParam = Literal["g", "U"]
TRAIN_PARAMS: tuple[TrainParam, ...] = ("g", "U")
Rows = tuple[tuple[float, ...], ...]


@dataclass(frozen=True)
class AdderTransform:
    """The matrices of a Winograd adder layer: AT (m, a), G (a, r), BT (a, a), as float64 rows."""

    name: str
    AT_rows: Rows
    G_rows: Rows
    BT_rows: Rows

    def __post_init__(self) -> None:
        m, a = len(self.AT_rows), len(self.BT_rows)
        r = a - m + 1
        for label, rows, cols in (("AT", self.AT_rows, a), ("G", self.G_rows, r)):
            if any(len(row) != cols for row in rows):
                raise ValueError(f"transform.{label}: rows must have {cols} entries")
        if len(self.G_rows) != a or any(len(row) != a for row in self.BT_rows):
            raise ValueError(f"transform: G must be ({a}, {r}) and BT ({a}, {a})")

    @property
    def m(self) -> int:
        return len(self.AT_rows)

    @property
    def alpha(self) -> int:
        return len(self.BT_rows)

    @property
    def r(self) -> int:
        return self.alpha - self.m + 1

    @property
    def AT(self) -> torch.Tensor:
        return torch.tensor(self.AT_rows, dtype=torch.float64)

    @property
    def G(self) -> torch.Tensor:
        return torch.tensor(self.G_rows, dtype=torch.float64)

    @property
    def BT(self) -> torch.Tensor:
        return torch.tensor(self.BT_rows, dtype=torch.float64)

    @staticmethod
    def from_matrices(
        name: str, at: torch.Tensor, g: torch.Tensor, bt: torch.Tensor
    ) -> AdderTransform:
        def rows(t: torch.Tensor) -> Rows:
            return tuple(tuple(float(v) for v in row) for row in t.double().tolist())

        return AdderTransform(name, rows(at), rows(g), rows(bt))


def balancing_signs(at: torch.Tensor) -> tuple[int, ...]:
    """Column signs s (s_0 = +1) of AT making ``AT s`` positive and as equal as possible
    (smallest max/min ratio; ties: fewest flips, then the first in order)."""
    best: tuple[float, int, tuple[int, ...]] | None = None
    for tail in itertools.product((1, -1), repeat=at.shape[1] - 1):
        signs = (1, *tail)
        sums = at @ torch.tensor(signs, dtype=at.dtype)
        if bool((sums <= 0).any()):
            continue
        key = (float(sums.max() / sums.min()), tail.count(-1), signs)
        best = key if best is None or key[:2] < best[:2] else best
    if best is None:
        raise ValueError("transform: no column signs give AT positive row sums")
    return best[2]


def adder_transform(
    tile: str | WinogradTransform, choice: TransformChoice = "balanced"
) -> AdderTransform:
    """The ``choice`` matrices for ``tile`` (e.g. "F(2,3)"); see the module docstring."""
    if choice not in TRANSFORM_CHOICES:
        raise ValueError(f"transform: must be one of {TRANSFORM_CHOICES}, got {choice!r}")
    tf = standard_transform(tile) if isinstance(tile, str) else tile
    at, g, bt = tf.AT, tf.G, tf.BT
    if choice == "balanced":
        signs = torch.tensor(balancing_signs(at), dtype=torch.float64)
        at, g = at * signs + 0.0, g * signs.unsqueeze(1) + 0.0  # + 0.0: no -0.0 entries
    return AdderTransform.from_matrices(f"{tf.name} {choice}", at, g, bt)


def winograd_adder_conv2d(
    x: torch.Tensor,
    u: torch.Tensor,
    tf: AdderTransform,
    padding: int | None = None,
    p: float = 1.0,
    grad_mode: GradMode = "addernet",
) -> torch.Tensor:
    """Winograd adder convolution of x (N, C, H, W) with Winograd-domain filters u (K, C, a, a).

    Output (N, K, Ho, Wo), ``Ho = H + 2 padding - r + 1`` (stride 1; padding defaults to r // 2):
    per m x m tile ``Y = AT (-sum_c |U_kc - BT d_c B|^p) A``, tiles at stride m over the input
    zero-padded to whole tiles (the extra outputs cropped).
    """
    a, m, r = tf.alpha, tf.m, tf.r
    pad = r // 2 if padding is None else padding
    if x.dim() != 4 or u.dim() != 4 or u.shape[-2:] != (a, a):
        raise ValueError(
            f"input/weight: expected (N, C, H, W) and (K, C, {a}, {a}), got {tuple(x.shape)} "
            f"and {tuple(u.shape)}"
        )
    if x.shape[1] != u.shape[1]:
        raise ValueError(f"input: has {x.shape[1]} channels, the weight expects {u.shape[1]}")
    n, c, h, w = x.shape
    k = u.shape[0]
    ho, wo = h + 2 * pad - r + 1, w + 2 * pad - r + 1
    if ho < 1 or wo < 1 or pad < 0:
        raise ValueError(f"input: spatial size {(h, w)} with padding {pad} is too small")
    th, tw = -(-ho // m), -(-wo // m)
    xp = F.pad(x, (pad, tw * m + r - 1 - w - pad, pad, th * m + r - 1 - h - pad))
    cols = F.unfold(xp, (a, a), stride=m)  # (N, C*a*a, th*tw)
    d = cols.view(n, c, a * a, th * tw).permute(2, 0, 3, 1).reshape(a * a, -1)  # (a*a, P*C)
    bt, at = tf.BT.to(x), tf.AT.to(x)
    v = (torch.kron(bt, bt) @ d).view(a * a, n * th * tw, c)
    u_pos = u.permute(2, 3, 0, 1).reshape(a * a, k, c)
    prod = adder_distance(v, u_pos, p, grad_mode)  # (a*a, P, K)
    y = torch.kron(at, at) @ prod.reshape(a * a, -1)  # (m*m, P*K)
    y = y.view(m, m, n, th, tw, k).permute(2, 5, 3, 0, 4, 1).reshape(n, k, th * m, tw * m)
    return y[:, :, :ho, :wo]


class WinogradAdderConv2d(nn.Module):
    """A Winograd adder layer (no bias: batch norm follows it); 3x3-style stride-1 kernels.

    ``train_param`` "g" trains the r x r kernel g (U = G g G^T each forward), "U" the Winograd
    filters U (K, C, a, a) themselves (initialised to G g G^T); which one Li et al. train is NOT
    FOUND. ``p`` is the norm exponent, set per epoch by the recipe's p schedule (1 when none).
    ``eta`` and ``grad_mode`` as for ``AdderConv2d``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        transform: AdderTransform,
        padding: int | None = None,
        *,
        train_param: TrainParam = "g",
        p: float = 1.0,
        eta: float | None = DEFAULT_ETA,
        grad_mode: GradMode = "addernet",
    ) -> None:
        super().__init__()
        if train_param not in TRAIN_PARAMS:
            raise ValueError(f"train_param: must be one of {TRAIN_PARAMS}, got {train_param!r}")
        if grad_mode not in GRAD_MODES:
            raise ValueError(f"grad_mode: must be one of {GRAD_MODES}, got {grad_mode!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.transform = transform
        self.padding = transform.r // 2 if padding is None else padding
        self.train_param, self.eta, self.grad_mode = train_param, eta, grad_mode
        self.p = p
        g = torch.randn(out_channels, in_channels, transform.r, transform.r)  # AdderNet's init
        if train_param == "U":
            g = transform.G.float() @ g @ transform.G.float().t()
        self.weight = nn.Parameter(g)

    @property
    def p(self) -> float:
        return self._p

    @p.setter
    def p(self, value: float) -> None:
        if not 1.0 <= value <= 2.0:
            raise ValueError(f"p: must be in [1, 2], got {value}")
        self._p = float(value)

    def winograd_weight(self) -> torch.Tensor:
        """U (K, C, a, a): ``G g G^T`` (train_param g) or the parameter itself."""
        if self.train_param == "U":
            return self.weight
        g = self.transform.G.to(self.weight)
        return g @ self.weight @ g.t()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = scale_weight_grad(self.weight, self.eta)
        if self.train_param == "g":
            g = self.transform.G.to(weight)
            weight = g @ weight @ g.t()
        return winograd_adder_conv2d(
            x, weight, self.transform, self.padding, self.p, self.grad_mode
        )

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, transform={self.transform.name}, "
            f"padding={self.padding}, train_param={self.train_param}, p={self.p:g}, "
            f"eta={self.eta}, grad_mode={self.grad_mode}"
        )
