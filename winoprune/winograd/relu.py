"""Winograd-domain ReLU (Liu, Pool, Han, Dally, ICLR 2018): the ReLU acts on transformed tiles.

Per input tile d_c (a x a, stride m) of channel c and output channel k (related-methods-spec 1.2)::

    Y_k = AT [ sum_c Q_kc * nl(BT d_c B) ] A        nl = ReLU (or identity for a first layer)

Adjacent tiles overlap by r - 1 and each is rectified on its own, so the layer has no spatial
equivalent: it is trained from scratch in this form with Q (K, C, a, a) as the parameter. The
layout and steps are ``functional``'s (``_tiled_forward``: one gather, one batched GEMM per
chunk); the backward pass masks the transformed-input gradient with ``V+ > 0`` (ReLU's
derivative, 0 at 0 as in torch).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from winoprune.winograd.functional import (
    _check_inputs,
    _tiled_backward,
    _tiled_forward,
)
from winoprune.winograd.layers import WinogradConv2d
from winoprune.winograd.tiling import Geometry
from winoprune.winograd.transforms import WinogradTransform

Activation = Literal["relu", "identity"]
ACTIVATIONS: tuple[Activation, ...] = ("relu", "identity")
QInit = Literal["variance-scaling", "spatial"]
Q_INITS: tuple[QInit, ...] = ("variance-scaling", "spatial")
# Liu et al.'s Q initialiser (ResNet-18-var/winograd_conv.py:19): tf.contrib variance scaling,
# factor 2 * 9 / 32, fan_in over (a*a, C, K), truncated normal with sigma^2 = 1.3 * factor / fan_in
LIU_INIT_FACTOR = 2.0 * 9.0 / 32.0
TRUNCATED_NORMAL_VARIANCE = 1.3


@dataclass
class ActivationCount:
    """Running count of the nonzero transformed activations ``V+`` of one layer.

    ``nonzero`` (a*a, C) int64: over all tiles seen, how many had ``V+[c, s] != 0`` at Winograd
    position s (row-major (i, j)) of channel c; ``tiles``: tiles seen (n * th * tw per call);
    ``images``: images seen.
    """

    positions: int
    channels: int
    nonzero: torch.Tensor = field(init=False)
    tiles: int = 0
    images: int = 0

    def __post_init__(self) -> None:
        self.nonzero = torch.zeros(self.positions, self.channels, dtype=torch.int64)

    def add(self, v: torch.Tensor, images: int) -> None:
        """Count the transformed tiles v (a*a, P, C) of ``images`` images."""
        counts = (v != 0).sum(dim=1).to("cpu", torch.int64)
        self.nonzero += counts
        self.tiles += v.shape[1]
        self.images += images

    @property
    def density(self) -> float:
        """Fraction of nonzero entries of V+ over every tile, position and channel seen."""
        entries = self.tiles * self.positions * self.channels
        return float(self.nonzero.sum().item()) / entries if entries else 0.0


class _WinogradReLUConv(torch.autograd.Function):
    """y = winograd_relu_conv2d(x, q, bias); ``_WinogradConv``'s steps with nl on V.

    Per position s, with V+_s (P, C) = nl(V_s): ``M_s = Q_s V+_s^T``, ``Y = kron(AT, AT) M``.
    Adjoints: ``dQ_s = dM_s V+_s``, ``dV+_s = dM_s^T Q_s``, ``dV = dV+ * 1[V+ > 0]`` (ReLU) and
    ``dD = kron(BT, BT)^T dV``, overlap-added into dx. V is always transformed in two passes
    (``functional.separable_transform``), so the counted zeros are exact.
    """

    @staticmethod
    def forward(
        ctx: Any,
        x: torch.Tensor,
        q: torch.Tensor,
        bias: torch.Tensor | None,
        tf: WinogradTransform,
        pad: int,
        relu: bool,
        count: ActivationCount | None,
    ) -> torch.Tensor:
        def rectify(v: torch.Tensor, part: Geometry) -> torch.Tensor:
            if relu:
                v = v.clamp_min_(0.0)
            if count is not None:
                count.add(v, part.n)
            return v

        keep_v = ctx.needs_input_grad[1] or (relu and ctx.needs_input_grad[0])
        return _tiled_forward(
            ctx, x, q, bias, tf, pad, keep_v, separable=True, on_tiles=rectify, mask_grad=relu
        )

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad_y: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        return (*_tiled_backward(ctx, grad_y), None, None, None, None)


def winograd_relu_conv2d(
    x: torch.Tensor,
    q: torch.Tensor,
    tf: WinogradTransform,
    bias: torch.Tensor | None = None,
    padding: int | None = None,
    activation: Activation = "relu",
    count: ActivationCount | None = None,
) -> torch.Tensor:
    """Winograd-domain-ReLU convolution of x (N, C, H, W) with Winograd weights q (K, C, a, a).

    Output (N, K, Ho, Wo), ``Ho = H + 2 * padding - r + 1``: per m x m output tile,
    ``Y = AT [sum_c Q_kc * nl(BT d_c B)] A`` with d_c the a x a input tile (zero-padded, stride m,
    origin ``m * t - padding``) and nl = ReLU (``activation="relu"``) or the identity (then it
    equals ``winograd_conv2d``). ``count`` accumulates the nonzero V+ entries (see
    ``ActivationCount``). Gradients flow to x, q and bias.
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation: must be one of {ACTIVATIONS}, got {activation!r}")
    pad = tf.r // 2 if padding is None else padding
    _check_inputs(x, q, tf, bias, pad)
    return _WinogradReLUConv.apply(x, q, bias, tf, pad, activation == "relu", count)


def variance_scaling_(q: torch.Tensor, factor: float = LIU_INIT_FACTOR) -> torch.Tensor:
    """Liu et al.'s init of Q (K, C, a, a), in place: truncated normal (+-2 sigma) with
    ``sigma^2 = 1.3 * factor / (a * a * C)`` (their fan_in over (16, C, K); a != 4 extrapolates)."""
    fan_in = q.shape[1] * q.shape[2] * q.shape[3]
    sigma = math.sqrt(TRUNCATED_NORMAL_VARIANCE * factor / fan_in)
    with torch.no_grad():
        return torch.nn.init.trunc_normal_(q, 0.0, sigma, -2 * sigma, 2 * sigma)


class WinogradReLUConv2d(WinogradConv2d):
    """A WinogradConv2d whose transformed input tiles pass through ``activation`` first.

    ``activation``: "relu" (Liu et al.) or "identity" (a first layer that sees the image).
    ``init``: "spatial" keeps WinogradConv2d's ``Q = G W G^T`` of a kaiming-uniform W;
    "variance-scaling" draws Q as Liu et al.'s code does (``variance_scaling_``). Pruning,
    masks and metrics treat it as a WinogradConv2d; ``activation_count``, when set (see
    ``winoprune.pruning.activations.count_activations``), accumulates the nonzero V+ entries.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        transform: WinogradTransform,
        padding: int | None = None,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        activation: Activation = "relu",
        init: QInit = "spatial",
    ) -> None:
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation: must be one of {ACTIVATIONS}, got {activation!r}")
        if init not in Q_INITS:
            raise ValueError(f"init: must be one of {Q_INITS}, got {init!r}")
        super().__init__(in_channels, out_channels, transform, padding, bias, device, dtype)
        self.activation: Activation = activation
        self.activation_count: ActivationCount | None = None
        if init == "variance-scaling":
            variance_scaling_(self.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return winograd_relu_conv2d(
            x,
            self.weight,
            self.transform,
            self.bias,
            self.padding,
            self.activation,
            self.activation_count,
        )

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, activation={self.activation}"

    def to_conv2d(self) -> torch.nn.Conv2d:
        """The equivalent nn.Conv2d (identity activation only: a ReLU layer has none)."""
        if self.activation == "relu":
            raise ValueError(
                "activation: a Winograd-domain ReLU layer rectifies each overlapping tile on its "
                "own and has no spatial equivalent"
            )
        return super().to_conv2d()
