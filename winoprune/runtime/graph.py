"""A trained model as a chain of inference ops, with batch norm folded into the convs.

``trace_ops(model, tf)`` walks the model's children in registration order (the shipped plain
models run them in that order; ``export`` checks it by comparing outputs) and returns ops:

- ``{"op": "winograd_conv", "name", "in_channels", "out_channels", "padding"}`` with tensors
  Q (K, C, a, a) and bias (K,): every WinogradConv2d, and every nn.Conv2d that
  ``ineligibility`` accepts for the transform's r (Q = G W G^T in float64, so structured
  spatial zeros stay exact zeros);
- ``{"op": "conv", "name", "stride", "padding"}`` with weight and bias: other convs (dense);
- ``{"op": "linear", "name"}`` with weight and bias;
- ``relu``, ``maxpool`` (kernel, stride, padding), ``avgpool`` (adaptive, output 1), ``flatten``
  (an nn.Flatten, or implied before the first nn.Linear).

A BatchNorm2d right after a conv is folded into it: with ``s = gamma / sqrt(var + eps)``,
``Q'_k = s_k Q_k`` and ``b'_k = s_k (b_k - mean_k) + beta_k`` (scaling keeps zeros zero).
Dropout is the identity at inference and is dropped.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from winoprune.winograd.functional import to_winograd
from winoprune.winograd.layers import WinogradConv2d, ineligibility
from winoprune.winograd.transforms import WinogradTransform

Op = dict[str, Any]


def _leaves(module: nn.Module, prefix: str = "") -> list[tuple[str, nn.Module]]:
    children = list(module.named_children())
    if not children or isinstance(module, WinogradConv2d):
        return [(prefix, module)]
    out: list[tuple[str, nn.Module]] = []
    for name, child in children:
        out += _leaves(child, f"{prefix}.{name}" if prefix else name)
    return out


def _pair(value: Any) -> int:
    a, b = (value, value) if isinstance(value, int) else tuple(value)
    if a != b:
        raise ValueError(f"model: non-square kernel/stride/padding {value!r} is not supported")
    return int(a)


def _conv_op(name: str, module: nn.Module, tf: WinogradTransform) -> tuple[Op, dict]:
    if isinstance(module, WinogradConv2d):
        if module.transform.name != tf.name or module.transform.points != tf.points:
            raise ValueError(
                f"model: layer {name!r} uses {module.transform.name}; the export's tile is "
                f"{tf.name}"
            )
        q = module.weight.detach().double()
        padding = module.padding
    else:
        assert isinstance(module, nn.Conv2d)
        if ineligibility(module, (tf.r,)) is not None:
            if module.groups != 1 or tuple(module.dilation) != (1, 1):
                raise ValueError(f"model: layer {name!r}: grouped/dilated convs are not supported")
            bias = module.bias.detach().double() if module.bias is not None else None
            op = {
                "op": "conv",
                "name": name,
                "stride": _pair(module.stride),
                "padding": _pair(module.padding),
            }
            return op, {"weight": module.weight.detach().double(), "bias": bias}
        q = to_winograd(module.weight.detach().double(), tf)
        padding = _pair(module.padding) if not isinstance(module.padding, str) else tf.r // 2
    bias = module.bias.detach().double() if module.bias is not None else None
    op = {
        "op": "winograd_conv",
        "name": name,
        "in_channels": int(q.shape[1]),
        "out_channels": int(q.shape[0]),
        "padding": int(padding),
    }
    return op, {"q": q, "bias": bias}


def _fold_bn(tensors: dict, bn: nn.BatchNorm2d, name: str) -> None:
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError(f"model: batch norm {name!r} has no running statistics")
    scale = bn.running_var.detach().double().add(bn.eps).rsqrt()
    if bn.weight is not None:
        scale = scale * bn.weight.detach().double()
    shift = -bn.running_mean.detach().double()
    key = "q" if "q" in tensors else "weight"
    w = tensors[key]
    tensors[key] = w * scale.view(-1, *([1] * (w.dim() - 1)))
    bias = tensors["bias"] if tensors["bias"] is not None else torch.zeros_like(scale)
    folded = (bias + shift) * scale
    tensors["bias"] = folded + (bn.bias.detach().double() if bn.bias is not None else 0.0)


def trace_ops(model: nn.Module, tf: WinogradTransform) -> tuple[list[Op], dict[str, dict]]:
    """(ops, tensors by op name) of an eval-mode plain model; ValueError naming an unsupported
    module. Tensors are float64 here; the export rounds them to float32 once."""
    ops: list[Op] = []
    tensors: dict[str, dict] = {}
    flat = False
    for name, module in _leaves(model):
        if isinstance(module, nn.Conv2d | WinogradConv2d):
            op, ts = _conv_op(name, module, tf)
            ops.append(op)
            tensors[name] = ts
        elif isinstance(module, nn.BatchNorm2d):
            if not ops or ops[-1]["op"] not in ("winograd_conv", "conv"):
                raise ValueError(f"model: batch norm {name!r} does not follow a conv")
            _fold_bn(tensors[ops[-1]["name"]], module, name)
        elif isinstance(module, nn.ReLU):
            ops.append({"op": "relu"})
        elif isinstance(module, nn.MaxPool2d):
            if module.dilation not in (1, (1, 1)) or module.ceil_mode:
                raise ValueError(f"model: max-pool {name!r}: dilation/ceil_mode unsupported")
            ops.append(
                {
                    "op": "maxpool",
                    "kernel": _pair(module.kernel_size),
                    "stride": _pair(module.stride),
                    "padding": _pair(module.padding),
                }
            )
        elif isinstance(module, nn.AdaptiveAvgPool2d):
            if module.output_size not in (1, (1, 1)):
                raise ValueError(f"model: {name!r}: only adaptive average pooling to 1x1")
            ops.append({"op": "avgpool"})
        elif isinstance(module, nn.Dropout):
            continue
        elif isinstance(module, nn.Flatten) and (module.start_dim, module.end_dim) == (1, -1):
            ops.append({"op": "flatten"})
            flat = True
        elif isinstance(module, nn.Linear):
            if not flat:
                ops.append({"op": "flatten"})
                flat = True
            ops.append({"op": "linear", "name": name})
            b = module.bias.detach().double() if module.bias is not None else None
            tensors[name] = {"weight": module.weight.detach().double(), "bias": b}
        else:
            raise ValueError(
                f"model: layer {name!r} ({type(module).__name__}) is not supported by the export"
            )
    return ops, tensors
