"""What the Winograd-domain layers (``layers.WinogradConv2d``, ``dwm.DWMConv2d``) share: the
channel check, the zero bias, and the copies from and to an equivalent nn.Conv2d."""

from __future__ import annotations

from typing import Protocol

import torch
from torch import nn

# relative residual ||G W G^T - Q|| / ||Q|| up to which Q counts as having a spatial equivalent
RANGE_TOLERANCE = 1e-5


class WinogradDomainConv(Protocol):
    """A layer with Winograd-domain weights: channel counts, ``weight`` Q, optional ``bias``."""

    in_channels: int
    out_channels: int
    weight: nn.Parameter
    bias: nn.Parameter | None


def check_channels(in_channels: int, out_channels: int) -> None:
    """ValueError naming the field unless both channel counts are integers >= 1."""
    for name, value in (("in_channels", in_channels), ("out_channels", out_channels)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}: must be an integer >= 1, got {value!r}")


def zero_bias(
    out_channels: int, bias: bool, device: torch.device | str | None, dtype: torch.dtype | None
) -> nn.Parameter | None:
    """A zero bias (K,) parameter, or None without ``bias``."""
    return nn.Parameter(torch.zeros(out_channels, device=device, dtype=dtype)) if bias else None


def load_conv(layer: WinogradDomainConv, q: torch.Tensor, conv: nn.Conv2d) -> None:
    """Copy Winograd weights q (the shape of ``layer.weight``) and ``conv``'s bias into layer."""
    with torch.no_grad():
        layer.weight.copy_(q)
        if conv.bias is not None and layer.bias is not None:
            layer.bias.copy_(conv.bias)


def spatial_conv(
    layer: WinogradDomainConv,
    w: torch.Tensor,
    residual: float,
    fitted_to: str,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int],
    padding: int | tuple[int, int],
) -> nn.Conv2d:
    """The nn.Conv2d with spatial weight w (K, C, kh, kw) and ``layer``'s bias, channels, device
    and dtype. ValueError when w's least-squares fit to Q left a relative ``residual`` above
    RANGE_TOLERANCE (Q not in the range of the transform(s) ``fitted_to`` names)."""
    if residual > RANGE_TOLERANCE:
        raise ValueError(
            f"weight: Q is not in the range of {fitted_to} (relative residual "
            f"{residual:.2e} > {RANGE_TOLERANCE:g}); Winograd-domain pruning or training "
            "gives weights with no spatial equivalent"
        )
    conv = nn.Conv2d(
        layer.in_channels,
        layer.out_channels,
        kernel_size,
        stride=stride,
        padding=padding,
        bias=layer.bias is not None,
        device=layer.weight.device,
        dtype=layer.weight.dtype,
    )
    with torch.no_grad():
        conv.weight.copy_(w.to(layer.weight.dtype))
        if layer.bias is not None and conv.bias is not None:
            conv.bias.copy_(layer.bias)
    return conv
