"""WinogradConv2d: a stride-1 convolution whose parameters live in the Winograd domain.

``weight`` is Q (K, C, alpha, alpha) = G W G^T for a spatial W (K, C, r, r); the forward pass is
``winograd_conv2d``. Pruning and training act on Q directly.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass, field

import torch
from torch import nn

from winoprune.winograd.accurate import DEFAULT_SUMMATION, Summation
from winoprune.winograd.convert import check_channels, load_conv, spatial_conv, zero_bias
from winoprune.winograd.dwm import DEFAULT_DWM_M, DWMConv2d, dwm_ineligibility
from winoprune.winograd.functional import to_winograd, transform_matrices, winograd_conv2d
from winoprune.winograd.transforms import WinogradTransform, cook_toom


class WinogradConv2d(nn.Module):
    """Stride-1 2-D convolution with Winograd-domain weights Q (K, C, alpha, alpha)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        transform: WinogradTransform,
        padding: int | None = None,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        summation: Summation | None = None,
    ) -> None:
        super().__init__()
        check_channels(in_channels, out_channels)
        if padding is not None and (
            isinstance(padding, bool) or not isinstance(padding, int) or padding < 0
        ):
            raise ValueError(f"padding: must be an integer >= 0, got {padding!r}")
        a = transform.alpha
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.transform = transform
        self.summation = summation or DEFAULT_SUMMATION  # forward numerics (winograd.accurate)
        self.padding = transform.r // 2 if padding is None else padding
        spatial = torch.empty(out_channels, in_channels, transform.r, transform.r, dtype=dtype)
        nn.init.kaiming_uniform_(spatial, a=5**0.5)
        q = to_winograd(spatial.double(), transform).to(dtype or torch.get_default_dtype())
        self.weight = nn.Parameter(q.to(device))
        assert self.weight.shape == (out_channels, in_channels, a, a)
        self.bias = zero_bias(out_channels, bias, device, dtype)

    @property
    def kernel_size(self) -> tuple[int, int]:
        return (self.transform.r, self.transform.r)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return winograd_conv2d(
            x, self.weight, self.transform, self.bias, self.padding, sums=self.summation
        )

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, tile={self.transform.name}, "
            f"padding={self.padding}, bias={self.bias is not None}"
        )

    @classmethod
    def from_conv2d(
        cls,
        conv: nn.Conv2d,
        m: int = 4,
        transform: WinogradTransform | None = None,
        summation: Summation | None = None,
    ) -> WinogradConv2d:
        """Convert an eligible nn.Conv2d (stride 1, square kernel, no groups or dilation)."""
        reason = ineligibility(conv)
        if reason:
            raise ValueError(f"conv: cannot convert to a Winograd layer: {reason}")
        r = conv.kernel_size[0]
        tf = transform or cook_toom(m, r)
        if tf.r != r:
            raise ValueError(f"transform: {tf.name} does not fit a {r}x{r} kernel")
        layer = cls(
            conv.in_channels,
            conv.out_channels,
            tf,
            padding=_symmetric_padding(conv),
            bias=conv.bias is not None,
            device=conv.weight.device,
            dtype=conv.weight.dtype,
            summation=summation,
        )
        q = to_winograd(conv.weight.detach().double(), tf)
        load_conv(layer, q.to(conv.weight.dtype), conv)
        return layer

    def spatial_weight(self) -> tuple[torch.Tensor, float]:
        """Least-squares W with G W G^T closest to Q, and the relative residual."""
        _, g, _ = transform_matrices(self.transform, self.weight.device, torch.float64)
        g_pinv = torch.linalg.pinv(g)
        q = self.weight.detach().double()
        w = g_pinv @ q @ g_pinv.transpose(0, 1)
        residual = (to_winograd(w, self.transform) - q).norm() / q.norm().clamp_min(1e-30)
        return w, float(residual)

    def to_conv2d(self) -> nn.Conv2d:
        """The equivalent nn.Conv2d; raises ValueError when Q has no spatial equivalent."""
        w, residual = self.spatial_weight()
        r = self.transform.r
        return spatial_conv(self, w, residual, self.transform.name, r, 1, self.padding)


def ineligibility(conv: nn.Module, kernel_sizes: tuple[int, ...] | None = None) -> str | None:
    """Why ``conv`` cannot become a Winograd layer, or None when it can."""
    if not isinstance(conv, nn.Conv2d):
        return f"{type(conv).__name__} is not nn.Conv2d"
    kh, kw = conv.kernel_size
    if kh != kw:
        return f"kernel {kh}x{kw} is not square"
    if kernel_sizes is not None and kh not in kernel_sizes:
        return f"kernel {kh}x{kw} is not one of {kernel_sizes}"
    if kh == 1:
        return "kernel 1x1 has no Winograd saving"
    if tuple(conv.stride) != (1, 1):
        return f"stride {tuple(conv.stride)} is not 1"
    if tuple(conv.dilation) != (1, 1):
        return f"dilation {tuple(conv.dilation)} is not 1"
    if conv.groups != 1:
        return f"groups={conv.groups} is not 1"
    if _symmetric_padding(conv) is None:
        return f"padding {conv.padding!r} is not symmetric"
    if conv.padding_mode != "zeros":
        return f"padding_mode {conv.padding_mode!r} is not 'zeros'"
    return None


def _symmetric_padding(conv: nn.Conv2d) -> int | None:
    """The conv's padding as one integer (``"same"`` is r // 2 for odd r), or None if uneven."""
    pad = conv.padding
    if pad == "valid":
        return 0
    if pad == "same":
        return conv.kernel_size[0] // 2 if conv.kernel_size[0] % 2 == 1 else None
    if isinstance(pad, tuple) and pad[0] == pad[1]:
        return int(pad[0])
    return None


@dataclass
class ConversionReport:
    """What ``convert_model`` converted, and what it skipped and why."""

    converted: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        lines = [f"converted {len(self.converted)}: {', '.join(self.converted) or '-'}"]
        lines += [f"skipped {name}: {why}" for name, why in self.skipped.items()]
        return "\n".join(lines)


def _matches(name: str, patterns: list[str] | None) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns or [])


def convert_model(
    model: nn.Module,
    m: int = 4,
    include: list[str] | None = None,
    exclude: list[str] | None = None,
    kernel_sizes: tuple[int, ...] = (3,),
    transform: WinogradTransform | None = None,
    dwm: bool = False,
    dwm_m: int = DEFAULT_DWM_M,
    summation: Summation | None = None,
) -> ConversionReport:
    """Swap every eligible conv (3x3 stride 1 by default) for a WinogradConv2d, in place.

    ``include``/``exclude`` are fnmatch patterns on module names (e.g. "features.*");
    with ``include`` only matching convs are converted. ``dwm``: every other conv (strided, 1x1,
    kernels not in ``kernel_sizes``; not grouped or dilated) becomes a DWMConv2d with
    F(dwm_m, r_i) pieces (``uses_dwm``). ``summation``: the Winograd layers' channel-sum and
    transform-order options (``winograd.accurate``).
    """
    report = ConversionReport()
    for name, module in list(model.named_modules()):
        if not isinstance(module, nn.Conv2d):
            continue
        if include is not None and not _matches(name, include):
            report.skipped[name] = "not matched by include"
            continue
        if _matches(name, exclude):
            report.skipped[name] = "matched by exclude"
            continue
        reason = ineligibility(module, kernel_sizes)
        if reason and dwm and dwm_ineligibility(module) is None:
            _set_submodule(model, name, DWMConv2d.from_conv2d(module, m=dwm_m))
            report.converted.append(name)
            continue
        if reason:
            report.skipped[name] = reason
            continue
        tf = transform if transform and transform.r == module.kernel_size[0] else None
        layer = WinogradConv2d.from_conv2d(module, m=m, transform=tf, summation=summation)
        _set_submodule(model, name, layer)
        report.converted.append(name)
    return report


def uses_dwm(module: nn.Module, kernel_sizes: tuple[int, ...] = (3,)) -> bool:
    """True for a DWMConv2d, or an nn.Conv2d that ``convert_model(dwm=True)`` makes one (not a
    WinogradConv2d of ``kernel_sizes``, and neither grouped nor dilated)."""
    if isinstance(module, DWMConv2d):
        return True
    return (
        isinstance(module, nn.Conv2d)
        and ineligibility(module, kernel_sizes) is not None
        and dwm_ineligibility(module) is None
    )


def winograd_domain_layers(
    model: nn.Module, layers: Iterable[str] | None = None
) -> dict[str, WinogradConv2d | DWMConv2d]:
    """The model's WinogradConv2d and DWMConv2d modules by name, optionally only ``layers``."""
    wanted = set(layers) if layers is not None else None
    found: dict[str, WinogradConv2d | DWMConv2d] = {
        name: module
        for name, module in model.named_modules()
        if isinstance(module, WinogradConv2d | DWMConv2d) and (wanted is None or name in wanted)
    }
    if wanted is not None and (missing := wanted - set(found)):
        raise ValueError(f"layers: not Winograd-domain modules of the model: {sorted(missing)}")
    return found


def winograd_layers(
    model: nn.Module, layers: Iterable[str] | None = None
) -> dict[str, WinogradConv2d]:
    """The model's WinogradConv2d modules by name, optionally only ``layers`` (all must exist)."""
    wanted = set(layers) if layers is not None else None
    found = {
        name: module
        for name, module in model.named_modules()
        if isinstance(module, WinogradConv2d) and (wanted is None or name in wanted)
    }
    if wanted is not None and (missing := wanted - set(found)):
        raise ValueError(f"layers: not WinogradConv2d modules of the model: {sorted(missing)}")
    return found


def _set_submodule(model: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)
