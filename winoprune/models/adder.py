"""Adder variants of the sequential models: AdderNet (Chen et al. 2020) and Winograd AdderNet
(Li et al. 2021) versions of VGG-nagadomi, ConvPool-CNN-C and the digits CNN (spec 3.1-3.2).

As in AdderNet's ResNet-20 (resnet20.py), the first conv (on the image) and the classifier stay
multiplication layers; every other conv of ``features`` becomes an adder layer, and the batch
norm behind it stays. ``-adder`` models use ``AdderConv2d`` for all of them; ``-wadder`` models
use ``WinogradAdderConv2d`` (tile ``tile``, matrices ``adder_transform``) for the 3x3 stride-1
convs and ``AdderConv2d`` for the 1x1 ones. Module names are the base model's.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Literal, cast

from torch import nn

from winoprune.models.convpool import ConvPoolCNNC
from winoprune.models.small import digits_cnn
from winoprune.models.vgg import VGGNagadomi
from winoprune.winograd.adder import DEFAULT_ETA, GRAD_MODES, AdderConv2d, GradMode
from winoprune.winograd.layers import ineligibility
from winoprune.winograd.wadder import (
    TRAIN_PARAMS,
    TRANSFORM_CHOICES,
    AdderTransform,
    TrainParam,
    WinogradAdderConv2d,
    adder_transform,
)

Kind = Literal["adder", "winograd-adder"]
DEFAULT_TILE = "F(2,3)"  # spec 3.2: the tile is NOT FOUND, F(2,3) likely
# build options (ModelEntry.options) of the two kinds
ADDER_OPTIONS = ("eta", "grad_mode")
# (model-name suffix, kind) of the registered variants
VARIANTS: tuple[tuple[str, Kind], ...] = (("adder", "adder"), ("wadder", "winograd-adder"))
WADDER_OPTIONS = ("tile", "adder_transform", "train_param", "eta", "grad_mode")


def check_options(
    kind: Kind, tile: str, transform: str, train_param: str, eta: float | None, grad_mode: str
) -> AdderTransform | None:
    """Validate the build options; returns the Winograd adder matrices (None for "adder")."""
    if grad_mode not in GRAD_MODES:
        raise ValueError(f"model.adder.grad_mode: must be one of {GRAD_MODES}, got {grad_mode!r}")
    if eta is not None and not eta > 0:
        raise ValueError(f"model.adder.eta: must be > 0, got {eta}")
    if kind == "adder":
        return None
    if transform not in TRANSFORM_CHOICES:
        raise ValueError(
            f"model.adder.transform: must be one of {TRANSFORM_CHOICES}, got {transform!r}"
        )
    if train_param not in TRAIN_PARAMS:
        raise ValueError(
            f"model.adder.train_param: must be one of {TRAIN_PARAMS}, got {train_param!r}"
        )
    tf = adder_transform(tile, transform)  # narrowed to TransformChoice by the check above
    if tf.r != 3:
        raise ValueError(f"tile: the adder models have 3x3 kernels; {tile} has r = {tf.r}")
    return tf


def adder_layer(
    conv: nn.Conv2d,
    tf: AdderTransform | None,
    train_param: TrainParam,
    eta: float | None,
    grad_mode: GradMode,
) -> nn.Module:
    """The adder layer for ``conv``'s shape: Winograd adder when ``tf`` is given and conv is a
    stride-1 3x3 conv with symmetric padding, else a spatial adder layer."""
    if tf is not None and ineligibility(conv, (tf.r,)) is None:
        pad = conv.padding[0] if isinstance(conv.padding, tuple) else tf.r // 2
        return WinogradAdderConv2d(
            conv.in_channels,
            conv.out_channels,
            tf,
            int(pad),
            train_param=train_param,
            eta=eta,
            grad_mode=grad_mode,
        )
    if conv.groups != 1 or conv.kernel_size[0] != conv.kernel_size[1]:
        raise ValueError(
            f"model: conv {conv} has no adder form here (groups or a non-square kernel)"
        )
    padding = conv.padding if isinstance(conv.padding, tuple) else (0, 0)
    return AdderConv2d(
        conv.in_channels,
        conv.out_channels,
        conv.kernel_size[0],
        int(conv.stride[0]),
        int(padding[0]),
        eta=eta,
        grad_mode=grad_mode,
    )


def adder_features(
    features: nn.Sequential,
    tf: AdderTransform | None,
    keep: tuple[str, ...] = (),
    train_param: TrainParam = "g",
    eta: float | None = DEFAULT_ETA,
    grad_mode: GradMode = "addernet",
) -> nn.Sequential:
    """A copy of a conv stack whose convs, except the first and those in ``keep``, are adder
    layers (``adder_layer``)."""
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    first = True
    for name, module in features.named_children():
        if isinstance(module, nn.Conv2d):
            if not first and name not in keep:
                module = adder_layer(module, tf, train_param, eta, grad_mode)
            first = False
        layers[name] = module
    return nn.Sequential(layers)


def _builder(
    base: Callable[..., nn.Module], kind: Kind, keep: tuple[str, ...] = ()
) -> Callable[..., nn.Module]:
    def build(
        num_classes: int,
        width: float = 1.0,
        in_channels: int = 3,
        *,
        tile: str = DEFAULT_TILE,
        adder_transform: str = "balanced",
        train_param: str = "g",
        eta: float | None = DEFAULT_ETA,
        grad_mode: str = "addernet",
    ) -> nn.Module:
        tf = check_options(kind, tile, adder_transform, train_param, eta, grad_mode)
        model = base(num_classes, width, in_channels)
        model.features = adder_features(
            cast(nn.Sequential, model.features),
            tf,
            keep,
            cast(TrainParam, train_param),
            eta,
            cast(GradMode, grad_mode),
        )
        return model

    build.__doc__ = f"{base.__name__} with {kind} layers (see winoprune.models.adder)."
    return build


vgg_nagadomi_adder = _builder(VGGNagadomi, "adder")
vgg_nagadomi_wadder = _builder(VGGNagadomi, "winograd-adder")
# ConvPool-CNN-C's conv8 maps to the classes: its classifier, kept a multiplication conv
convpool_cnn_c_adder = _builder(ConvPoolCNNC, "adder", ("conv8",))
convpool_cnn_c_wadder = _builder(ConvPoolCNNC, "winograd-adder", ("conv8",))
digits_cnn_adder = _builder(digits_cnn, "adder")
digits_cnn_wadder = _builder(digits_cnn, "winograd-adder")


def adder_layers(model: nn.Module) -> dict[str, AdderConv2d | WinogradAdderConv2d]:
    """{module name: adder layer} of a model, in module order."""
    return {
        name: module
        for name, module in model.named_modules()
        if isinstance(module, AdderConv2d | WinogradAdderConv2d)
    }
