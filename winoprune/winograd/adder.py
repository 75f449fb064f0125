"""AdderNet's adder convolution (Chen et al., CVPR 2020; related-methods-spec 3.1).

Per output channel t and window of the input (im2col columns X (N*L, C*kh*kw), filters
F (K, C*kh*kw))::

    Y[i, t] = - sum_j |X[i, j] - F[t, j]|

No multiplications: subtractions, absolute values and additions. Batch norm follows every adder
layer in the models (``winoprune.models.adder``). Training uses AdderNet's rules
(huawei-noah/AdderNet adder.py:43-49), ``grad_mode="addernet"``:

- full-precision weight gradient ``dY/dF = X - F`` (not its sign): ``dF = sum_i dY[i] (X - F)``;
- input gradient clipped by HardTanh: ``dX = sum_t dY[t] clamp(F - X, -1, 1)``;
- adaptive learning-rate scaling of the whole layer's weight gradient,
  ``dF <- dF * eta * sqrt(k) / ||dF||_2`` with k = numel(F) and eta = 0.2 (their code's 1/5; the
  paper's eta is NOT FOUND, so it is a setting). ``scale_weight_grad`` applies it; weight decay
  is added after it by torch's SGD.

``grad_mode="exact"`` is autograd of the same forward (the sign gradient), for gradcheck.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

GradMode = Literal["addernet", "exact"]
GRAD_MODES: tuple[GradMode, ...] = ("addernet", "exact")
DEFAULT_ETA = 0.2  # AdderNet's code: grad / ||grad|| * sqrt(k) / 5
NORM_FLOOR = 1e-12  # their clamp(min=1e-12) on ||grad||
# rows of X per chunk of the clipped input gradient: chunk * K * D elements at a time
CHUNK_ELEMENTS = 1 << 23


class _ScaleGrad(torch.autograd.Function):
    """Identity forward; backward ``g * eta * sqrt(numel) / max(||g||_2, 1e-12)``."""

    @staticmethod
    def forward(ctx: Any, weight: torch.Tensor, eta: float) -> torch.Tensor:
        ctx.eta = eta
        return weight.view_as(weight)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return adaptive_scale(grad, ctx.eta), None


def adaptive_scale(grad: torch.Tensor, eta: float = DEFAULT_ETA) -> torch.Tensor:
    """AdderNet's adaptive learning-rate scaling: ``grad * eta * sqrt(k) / ||grad||_2``."""
    norm = grad.norm(p=2).clamp_min(NORM_FLOOR)
    return grad * (eta * math.sqrt(grad.numel()) / norm)


def scale_weight_grad(weight: torch.Tensor, eta: float | None) -> torch.Tensor:
    """``weight`` whose gradient gets ``adaptive_scale`` (None: unchanged)."""
    if eta is None:
        return weight
    if not eta > 0:
        raise ValueError(f"eta: must be > 0, got {eta}")
    return _ScaleGrad.apply(weight, eta)


def clipped_input_grad(dy: torch.Tensor, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``dX[b, i, j] = sum_t dY[b, i, t] clamp(W[b, t, j] - X[b, i, j], -1, 1)`` for X (B, R, D),
    W (B, T, D), dY (B, R, T); in row chunks so that the (B, rows, T, D) difference stays small."""
    out = torch.empty_like(x)
    step = max(1, CHUNK_ELEMENTS // max(1, w.numel()))
    for i in range(0, x.shape[1], step):
        part = x[:, i : i + step]
        diff = (w.unsqueeze(1) - part.unsqueeze(2)).clamp_(-1.0, 1.0)  # (B, rows, T, D)
        rows = part.shape[0] * part.shape[1]
        grads = dy[:, i : i + step].reshape(rows, 1, -1)
        out[:, i : i + step] = torch.bmm(grads, diff.view(rows, *diff.shape[2:])).view_as(part)
    return out


def full_precision_weight_grad(dy: torch.Tensor, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``dW[b, t, j] = sum_i dY[b, i, t] (X[b, i, j] - W[b, t, j])``, as one batched GEMM:
    ``dY^T X - W * sum_i dY``."""
    return torch.bmm(dy.transpose(1, 2), x) - w * dy.sum(dim=1).unsqueeze(-1)


def lp_distance(x: torch.Tensor, w: torch.Tensor, p: float) -> torch.Tensor:
    """``sum_j |X[b, i, j] - W[b, t, j]|^p`` (B, R, T) for X (B, R, D), W (B, T, D), p >= 1."""
    dist = torch.cdist(x, w, p=p)
    return dist if p == 1.0 else dist.pow(p)


class _AdderDistance(torch.autograd.Function):
    """``Y = -sum_j |X - W|^p`` with AdderNet's backward (the same for every p: the exponent's
    own gradient rule is NOT FOUND, so p only shapes the forward; at p = 2 the exact weight
    gradient 2 (X - W) points the same way)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, w: torch.Tensor, p: float) -> torch.Tensor:
        ctx.save_for_backward(x, w)
        return -lp_distance(x, w, p)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, dy: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, w = ctx.saved_tensors
        dx = clipped_input_grad(dy, x, w) if ctx.needs_input_grad[0] else None
        dw = full_precision_weight_grad(dy, x, w) if ctx.needs_input_grad[1] else None
        return dx, dw, None


def adder_distance(
    x: torch.Tensor, w: torch.Tensor, p: float = 1.0, grad_mode: GradMode = "addernet"
) -> torch.Tensor:
    """``-sum_j |X[b, i, j] - W[b, t, j]|^p`` (B, R, T) for X (B, R, D), W (B, T, D).

    ``grad_mode`` "addernet": the full-precision weight and HardTanh-clipped input gradients;
    "exact": autograd of the forward.
    """
    if grad_mode not in GRAD_MODES:
        raise ValueError(f"grad_mode: must be one of {GRAD_MODES}, got {grad_mode!r}")
    if not 1.0 <= p <= 2.0:
        raise ValueError(f"p: must be in [1, 2], got {p}")
    if grad_mode == "exact":
        return -lp_distance(x, w, p)
    return _AdderDistance.apply(x, w, p)


def adder_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    stride: int = 1,
    padding: int = 0,
    grad_mode: GradMode = "addernet",
) -> torch.Tensor:
    """Adder convolution of x (N, C, H, W) with filters ``weight`` (K, C, kh, kw).

    Output (N, K, Ho, Wo), ``Ho = (H + 2 padding - kh) // stride + 1``:
    ``Y[n, t, h, w] = -sum_{c,i,j} |x_pad[n, c, h*s + i, w*s + j] - W[t, c, i, j]|``.
    """
    if x.dim() != 4 or weight.dim() != 4:
        raise ValueError(
            f"input/weight: expected 4-D tensors, got {tuple(x.shape)} and {tuple(weight.shape)}"
        )
    if x.shape[1] != weight.shape[1]:
        raise ValueError(f"input: has {x.shape[1]} channels, the weight expects {weight.shape[1]}")
    n, _, h, w_in = x.shape
    k, _, kh, kw = weight.shape
    ho, wo = (h + 2 * padding - kh) // stride + 1, (w_in + 2 * padding - kw) // stride + 1
    if ho < 1 or wo < 1:
        raise ValueError(f"input: spatial size {(h, w_in)} is smaller than the {kh}x{kw} kernel")
    cols = F.unfold(x, (kh, kw), padding=padding, stride=stride)  # (N, D, L)
    rows = cols.transpose(1, 2).reshape(n * ho * wo, -1)
    y = adder_distance(rows.unsqueeze(0), weight.reshape(1, k, -1), 1.0, grad_mode)  # (1, NL, K)
    return y.view(n, ho * wo, k).transpose(1, 2).reshape(n, k, ho, wo)


class AdderConv2d(nn.Module):
    """An adder layer (no bias: batch norm follows it). ``eta`` None turns the adaptive
    learning-rate scaling off; ``grad_mode`` "exact" uses the sign gradient."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        *,
        eta: float | None = DEFAULT_ETA,
        grad_mode: GradMode = "addernet",
    ) -> None:
        super().__init__()
        if grad_mode not in GRAD_MODES:
            raise ValueError(f"grad_mode: must be one of {GRAD_MODES}, got {grad_mode!r}")
        if eta is not None and not eta > 0:
            raise ValueError(f"eta: must be > 0, got {eta}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.eta, self.grad_mode = eta, grad_mode
        # AdderNet's init: standard normal filters (adder.py:55)
        shape = (out_channels, in_channels, kernel_size, kernel_size)
        self.weight = nn.Parameter(torch.randn(shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = scale_weight_grad(self.weight, self.eta)
        return adder_conv2d(x, weight, self.stride, self.padding, self.grad_mode)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, eta={self.eta}, "
            f"grad_mode={self.grad_mode}"
        )
