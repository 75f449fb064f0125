"""Model registry: ``build_model(name, width, num_classes)`` for every model a recipe can name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from winoprune.models import adder
from winoprune.models.convpool import ConvPoolCNNC, rescale_dropout
from winoprune.models.resnet import ResNet18
from winoprune.models.resnet_torchvision import ResNet18TV
from winoprune.models.resnet_var import RESNET_VAR_OPTIONS, ResNet18VarWReLU
from winoprune.models.small import cifar_tiny, digits_cnn
from winoprune.models.vgg import VGGNagadomi
from winoprune.models.wrelu import (
    SEQUENTIAL_OPTIONS,
    convpool_cnn_c_wrelu,
    digits_cnn_wrelu,
    vgg_nagadomi_wrelu,
)
from winoprune.winograd.layers import WinogradConv2d

__all__ = [
    "MODELS",
    "ModelEntry",
    "build_model",
    "default_input_shape",
    "first_conv_name",
    "model_names",
    "rescale_dropout",
]


@dataclass(frozen=True)
class ModelEntry:
    """A registered model: how to build it and what input it expects."""

    builder: Callable[..., nn.Module]  # builder(num_classes=, width=, in_channels=)
    num_classes: int  # default class count
    input_shape: tuple[int, int, int]  # (C, H, W) of its data set
    fixed_size: bool  # True when H, W must equal input_shape (a flatten before an FC layer)
    description: str
    # keyword options the builder takes beyond those three (recipe fields, e.g. "tile")
    options: tuple[str, ...] = ()
    # built with Winograd-domain-ReLU layers (Liu et al. 2018): trained and pruned as such
    winograd_relu: bool = False
    # built with adder layers (models.adder): "adder" (AdderNet) or "winograd-adder" (Li et al.)
    adder: adder.Kind | None = None


MODELS_BASE_CLASSES = {"vgg-nagadomi": 10, "convpool-cnn-c": 100, "digits-cnn": 10}
MODELS: dict[str, ModelEntry] = {
    "vgg-nagadomi": ModelEntry(
        VGGNagadomi, 10, (3, 32, 32), True, "VGG-nagadomi, CIFAR-10 (8 3x3 convs, 3 FC)"
    ),
    "convpool-cnn-c": ModelEntry(
        ConvPoolCNNC, 100, (3, 32, 32), False, "ConvPool-CNN-C, CIFAR-100 (7 3x3 + 2 1x1 convs)"
    ),
    "resnet18": ModelEntry(
        ResNet18TV,
        1000,
        (3, 224, 224),
        False,
        "ResNet-18, torchvision's layout and state-dict names (stride-2 convs: DWM layers)",
    ),
    "resnet18-maxpool": ModelEntry(
        ResNet18, 1000, (3, 224, 224), False, "ResNet-18, max-pool + stride-1 3x3 variant"
    ),
    "digits-cnn": ModelEntry(
        digits_cnn, 10, (1, 8, 8), False, "small CNN for scikit-learn's 8x8 digits (4 3x3 convs)"
    ),
    "cifar-tiny": ModelEntry(
        cifar_tiny, 10, (3, 32, 32), False, "tiny 32x32 CNN for tests (4 3x3 convs)"
    ),
    # Winograd-domain ReLU variants (Liu et al. 2018; models.wrelu, models.resnet_var)
    "vgg-nagadomi-wrelu": ModelEntry(
        vgg_nagadomi_wrelu,
        10,
        (3, 32, 32),
        True,
        "VGG-nagadomi with Winograd-domain ReLU (8 Winograd-ReLU layers)",
        SEQUENTIAL_OPTIONS,
        winograd_relu=True,
    ),
    "convpool-cnn-c-wrelu": ModelEntry(
        convpool_cnn_c_wrelu,
        100,
        (3, 32, 32),
        False,
        "ConvPool-CNN-C with Winograd-domain ReLU (7 Winograd-ReLU + 2 1x1 convs)",
        SEQUENTIAL_OPTIONS,
        winograd_relu=True,
    ),
    "resnet18-var-wrelu": ModelEntry(
        ResNet18VarWReLU,
        1000,
        (3, 224, 224),
        False,
        "Liu et al.'s ResNet-18-var: 16 Winograd-ReLU layers, max-pool downsampling",
        RESNET_VAR_OPTIONS,
        winograd_relu=True,
    ),
    "digits-cnn-wrelu": ModelEntry(
        digits_cnn_wrelu,
        10,
        (1, 8, 8),
        False,
        "digits CNN with Winograd-domain ReLU (4 Winograd-ReLU layers)",
        SEQUENTIAL_OPTIONS,
        winograd_relu=True,
    ),
    # AdderNet (Chen et al. 2020) and Winograd AdderNet (Li et al. 2021) variants (models.adder)
    **{
        f"{base}-{suffix}": ModelEntry(
            getattr(adder, f"{base.replace('-', '_')}_{suffix}"),
            MODELS_BASE_CLASSES[base],
            (1, 8, 8) if base == "digits-cnn" else (3, 32, 32),
            base == "vgg-nagadomi",
            f"{base} with {kind} layers (first conv and classifier multiply)",
            adder.WADDER_OPTIONS if kind == "winograd-adder" else adder.ADDER_OPTIONS,
            adder=kind,
        )
        for base in ("vgg-nagadomi", "convpool-cnn-c", "digits-cnn")
        for suffix, kind in adder.VARIANTS
    },
}


def model_names() -> list[str]:
    """The registered model names, sorted."""
    return sorted(MODELS)


def _entry(name: str) -> ModelEntry:
    if name not in MODELS:
        raise ValueError(f"model.name: unknown model {name!r}; known: {', '.join(model_names())}")
    return MODELS[name]


def default_input_shape(name: str) -> tuple[int, int, int]:
    """The (C, H, W) input shape the model ``name`` was designed for."""
    return _entry(name).input_shape


def build_model(
    name: str,
    width: float = 1.0,
    num_classes: int | None = None,
    *,
    in_channels: int | None = None,
    **options: str | None,
) -> nn.Module:
    """Build a freshly initialised model from the registry.

    ``width`` scales every channel count and FC hidden size (``round(c * width)``, at least 1);
    ``num_classes`` defaults to the model's data set; ``in_channels`` to its input channels.
    ``options`` go to builders that take them (``ModelEntry.options``, e.g. a Winograd-ReLU
    model's ``tile``); None values are dropped. The model gets ``input_shape`` (C, H, W) and
    ``model_name`` attributes.
    """
    entry = _entry(name)
    options = {key: value for key, value in options.items() if value is not None}
    if unknown := sorted(set(options) - set(entry.options)):
        raise ValueError(f"model.{unknown[0]}: not an option of model {name!r}")
    if not width > 0:
        raise ValueError(f"model.width: must be > 0, got {width}")
    if num_classes is not None and num_classes < 1:
        raise ValueError(f"model.num_classes: must be >= 1, got {num_classes}")
    channels = entry.input_shape[0] if in_channels is None else in_channels
    model = entry.builder(
        num_classes=num_classes or entry.num_classes, width=width, in_channels=channels, **options
    )
    # plain (non-tensor) attributes: nn.Module's typed __setattr__ is not needed for them
    vars(model).update(input_shape=(channels, *entry.input_shape[1:]), model_name=name)
    return model


def first_conv_name(model: nn.Module) -> str:
    """Name of the first conv in module order (the paper's "first layer"): an nn.Conv2d or a
    Winograd layer (the Winograd-ReLU models are built with them)."""
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d | WinogradConv2d):
            return name
    raise ValueError("model: has no conv layer")
