"""ConvPool-CNN-C (Springenberg et al.) for CIFAR-100, as in the authors' code (paper-spec 4).

Input dropout 0.2; conv3-96 x3; maxpool 3x3/2 (pad 1); dropout 0.5; conv3-192 x3; maxpool 3x3/2
(pad 1); dropout 0.5; conv3-192 (pad 1); conv1-192; conv1-num_classes; ReLU; global average
pool. BN after every conv. Convs are ``features.conv0`` ... ``features.conv8``; dropouts are
``features.drop_in``, ``features.drop0``, ``features.drop1``.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from winoprune.models.vgg import scaled

INPUT_DROPOUT = 0.2
HIDDEN_DROPOUT = 0.5
DROPOUT_EXPONENT = 0.75
BASE_P_ATTR = "winoprune_base_p"


def _conv_bn_relu(
    layers: OrderedDict[str, nn.Module], index: int, c_in: int, c_out: int, kernel: int
) -> None:
    layers[f"conv{index}"] = nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False)
    layers[f"bn{index}"] = nn.BatchNorm2d(c_out)
    layers[f"relu{index}"] = nn.ReLU(inplace=True)


class ConvPoolCNNC(nn.Module):
    """ConvPool-CNN-C: input (N, 3, 32, 32) (any H, W >= 1 works), logits (N, num_classes)."""

    input_shape = (3, 32, 32)

    def __init__(self, num_classes: int = 100, width: float = 1.0, in_channels: int = 3) -> None:
        super().__init__()
        c1, c2 = scaled(96, width), scaled(192, width)
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        layers["drop_in"] = nn.Dropout(INPUT_DROPOUT)
        for i, c_in in enumerate((in_channels, c1, c1)):
            _conv_bn_relu(layers, i, c_in, c1, 3)
        layers["pool0"] = nn.MaxPool2d(3, stride=2, padding=1)
        layers["drop0"] = nn.Dropout(HIDDEN_DROPOUT)
        for i, c_in in zip((3, 4, 5), (c1, c2, c2), strict=True):
            _conv_bn_relu(layers, i, c_in, c2, 3)
        layers["pool1"] = nn.MaxPool2d(3, stride=2, padding=1)
        layers["drop1"] = nn.Dropout(HIDDEN_DROPOUT)
        _conv_bn_relu(layers, 6, c2, c2, 3)
        _conv_bn_relu(layers, 7, c2, c2, 1)
        # the last conv maps to the classes; its ReLU precedes the global average pool
        _conv_bn_relu(layers, 8, c2, num_classes, 1)
        layers["pool2"] = nn.AdaptiveAvgPool2d(1)
        self.features = nn.Sequential(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.features(x), 1)


def rescale_dropout(
    model: nn.Module,
    sparsity: float,
    input_sparsity: float = 0.2,
    input_names: tuple[str, ...] = (),
    exponent: float = DROPOUT_EXPONENT,
) -> dict[str, float]:
    """Scale every dropout rate for pruning: p <- p0 * (1 - s) ** exponent (paper-spec 2: the
    authors' exponent is 0.75).

    ``p0`` is the rate the model was built with (remembered on the module on the first call, so
    repeated calls never compound). Input dropouts (module names ending in ``drop_in`` or listed
    in ``input_names``) use ``input_sparsity`` (the fixed first-layer sparsity), the others
    ``sparsity``. Returns {module name: new p}.
    """
    for field, value in (("sparsity", sparsity), ("input_sparsity", input_sparsity)):
        if not 0.0 <= value < 1.0:
            raise ValueError(f"{field}: must be in [0, 1), got {value}")
    rates: dict[str, float] = {}
    for name, module in model.named_modules():
        if not isinstance(module, nn.Dropout):
            continue
        base = getattr(module, BASE_P_ATTR, None)
        if base is None:
            base = module.p
            setattr(module, BASE_P_ATTR, base)
        is_input = name.endswith("drop_in") or name in input_names
        s = input_sparsity if is_input else sparsity
        module.p = base * (1.0 - s) ** exponent
        rates[name] = module.p
    return rates
