"""Winograd-ReLU variants (Liu et al. 2018) of the sequential models: VGG-nagadomi,
ConvPool-CNN-C and the digits CNN (related-methods-spec 1.3).

Every 3x3 stride-1 conv of ``features`` becomes a ``WinogradReLUConv2d`` and the spatial ReLU in
front of it (after the previous conv's BN, before any pool or dropout, which commute with ReLU)
is removed: that layer rectifies its transformed input tiles instead. ReLUs in front of 1x1 convs,
of the pooling head and of the FC layers stay. The first conv sees the image, where Liu et al.'s
CIFAR handling is NOT FOUND, so it is a setting (``input_layer``):

- ``winograd-identity`` (default): a Winograd layer without activation (no ReLU before an image);
- ``winograd-relu``: a Winograd layer that rectifies the transformed image tiles;
- ``spatial``: a plain nn.Conv2d (as ImageNet's conv1), neither a Winograd layer nor pruned.

Module names are the base model's (``features.conv1`` ...), minus the removed ReLUs.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Literal, cast

import torch
from torch import nn

from winoprune.models.convpool import ConvPoolCNNC
from winoprune.models.small import SmallCNN, digits_cnn
from winoprune.models.vgg import VGGNagadomi
from winoprune.winograd.functional import to_winograd
from winoprune.winograd.layers import ineligibility
from winoprune.winograd.relu import (
    Q_INITS,
    Activation,
    QInit,
    WinogradReLUConv2d,
    variance_scaling_,
)
from winoprune.winograd.transforms import WinogradTransform, standard_transform

InputLayer = Literal["spatial", "winograd-identity", "winograd-relu"]
INPUT_LAYERS: tuple[InputLayer, ...] = ("spatial", "winograd-identity", "winograd-relu")
KERNEL = 3  # every Winograd-ReLU layer is a 3x3 conv
DEFAULT_TILE = "F(2,3)"  # the tile of Liu et al.'s code (winograd2x2)
DEFAULT_INPUT_LAYER: InputLayer = "winograd-identity"
DEFAULT_Q_INIT: QInit = "variance-scaling"
# the build options of a Winograd-ReLU model (ModelEntry.options)
SEQUENTIAL_OPTIONS = ("tile", "input_layer", "q_init")


def check_options(tile: str, input_layer: str, q_init: str) -> WinogradTransform:
    """Validate the build options; returns the tile's transform."""
    if input_layer not in INPUT_LAYERS:
        raise ValueError(f"model.input_layer: must be one of {INPUT_LAYERS}, got {input_layer!r}")
    if q_init not in Q_INITS:
        raise ValueError(f"model.q_init: must be one of {Q_INITS}, got {q_init!r}")
    tf = standard_transform(tile)
    if tf.r != KERNEL:
        raise ValueError(f"tile: Winograd-ReLU models have 3x3 kernels; {tf.name} has r = {tf.r}")
    return tf


def winograd_relu_layer(
    conv: nn.Conv2d, tf: WinogradTransform, activation: Activation, q_init: QInit
) -> WinogradReLUConv2d:
    """A WinogradReLUConv2d for ``conv``'s shape: Q = G W G^T of conv's weight ("spatial") or
    Liu et al.'s variance scaling ("variance-scaling")."""
    layer = WinogradReLUConv2d(
        conv.in_channels,
        conv.out_channels,
        tf,
        padding=int(conv.padding[0]) if isinstance(conv.padding, tuple) else None,
        bias=conv.bias is not None,
        activation=activation,
    )
    with torch.no_grad():
        if q_init == "spatial":
            layer.weight.copy_(to_winograd(conv.weight.detach().double(), tf))
        else:
            variance_scaling_(layer.weight)
        if conv.bias is not None and layer.bias is not None:
            layer.bias.copy_(conv.bias)
    return layer


def winograd_relu_features(
    features: nn.Sequential,
    tf: WinogradTransform,
    input_layer: InputLayer = DEFAULT_INPUT_LAYER,
    q_init: QInit = DEFAULT_Q_INIT,
) -> nn.Sequential:
    """A copy of a conv stack with Winograd-ReLU layers (see the module docstring)."""
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    pending_relu: str | None = None  # the ReLU since the last conv, removable
    first = True
    for name, module in features.named_children():
        if isinstance(module, nn.ReLU):
            pending_relu = name
        elif isinstance(module, nn.Conv2d):
            eligible = ineligibility(module, (tf.r,)) is None
            if eligible and first and input_layer != "spatial":
                activation: Activation = "relu" if input_layer == "winograd-relu" else "identity"
                module = winograd_relu_layer(module, tf, activation, q_init)
            elif eligible and not first:
                if pending_relu is None:
                    raise ValueError(f"model: conv {name!r} has no ReLU in front of it to move")
                del layers[pending_relu]
                module = winograd_relu_layer(module, tf, "relu", q_init)
            first, pending_relu = False, None
        layers[name] = module
    return nn.Sequential(layers)


def _convert(
    model: VGGNagadomi | ConvPoolCNNC | SmallCNN, tile: str, input_layer: str, q_init: str
) -> nn.Module:
    tf = check_options(tile, input_layer, q_init)
    model.features = winograd_relu_features(
        model.features, tf, cast(InputLayer, input_layer), cast(QInit, q_init)
    )
    return model


def vgg_nagadomi_wrelu(
    num_classes: int = 10,
    width: float = 1.0,
    in_channels: int = 3,
    *,
    tile: str = DEFAULT_TILE,
    input_layer: str = DEFAULT_INPUT_LAYER,
    q_init: str = DEFAULT_Q_INIT,
) -> nn.Module:
    """VGG-nagadomi with Winograd-domain ReLU: conv1..conv7 Winograd-ReLU, relu0..relu6 removed
    (relu7 feeds the FC head and stays). Input (N, 3, 32, 32), logits (N, num_classes)."""
    return _convert(VGGNagadomi(num_classes, width, in_channels), tile, input_layer, q_init)


def convpool_cnn_c_wrelu(
    num_classes: int = 100,
    width: float = 1.0,
    in_channels: int = 3,
    *,
    tile: str = DEFAULT_TILE,
    input_layer: str = DEFAULT_INPUT_LAYER,
    q_init: str = DEFAULT_Q_INIT,
) -> nn.Module:
    """ConvPool-CNN-C with Winograd-domain ReLU: the seven 3x3 convs are Winograd layers,
    relu0..relu5 removed; relu6 (before the 1x1 conv7), relu7 and relu8 stay."""
    return _convert(ConvPoolCNNC(num_classes, width, in_channels), tile, input_layer, q_init)


def digits_cnn_wrelu(
    num_classes: int = 10,
    width: float = 1.0,
    in_channels: int = 1,
    *,
    tile: str = DEFAULT_TILE,
    input_layer: str = DEFAULT_INPUT_LAYER,
    q_init: str = DEFAULT_Q_INIT,
) -> nn.Module:
    """The digits CNN (4 3x3 convs) with Winograd-domain ReLU, for demos and tests."""
    return _convert(digits_cnn(num_classes, width, in_channels), tile, input_layer, q_init)
