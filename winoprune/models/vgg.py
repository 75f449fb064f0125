"""VGG-nagadomi for CIFAR-10 (paper-spec section 4), with a channel-width multiplier.

conv3-64 x2, maxpool2; conv3-128 x2, maxpool2; conv3-256 x4, maxpool2; FC 4096->1024, ReLU,
dropout 0.5, FC 1024->1024, ReLU, dropout 0.5, FC->10. BN after every conv. Module names are
``features.conv0`` ... ``features.conv7`` and ``classifier.fc0`` ... ``classifier.fc2``.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

# (output channels, number of 3x3 convs) per block; a 2x2 max-pool closes each block
VGG_NAGADOMI_BLOCKS = ((64, 2), (128, 2), (256, 4))
FC_HIDDEN = 1024
CONV_INIT_STD = 0.05


def scaled(channels: int, width: float) -> int:
    """``channels * width`` rounded, at least 1: the channel count of a width-scaled model."""
    return max(1, round(channels * width))


class VGGNagadomi(nn.Module):
    """VGG-nagadomi: input (N, 3, 32, 32), output logits (N, num_classes)."""

    input_shape = (3, 32, 32)

    def __init__(self, num_classes: int = 10, width: float = 1.0, in_channels: int = 3) -> None:
        super().__init__()
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        channels, index = in_channels, 0
        for block, (out, repeats) in enumerate(VGG_NAGADOMI_BLOCKS):
            out = scaled(out, width)
            for _ in range(repeats):
                layers[f"conv{index}"] = nn.Conv2d(channels, out, 3, padding=1, bias=False)
                layers[f"bn{index}"] = nn.BatchNorm2d(out)
                layers[f"relu{index}"] = nn.ReLU(inplace=True)
                channels, index = out, index + 1
            layers[f"pool{block}"] = nn.MaxPool2d(2)
        self.features = nn.Sequential(layers)
        hidden = scaled(FC_HIDDEN, width)
        # three 2x2 pools take 32x32 to 4x4
        self.classifier = nn.Sequential(
            OrderedDict(
                [
                    ("fc0", nn.Linear(channels * 4 * 4, hidden)),
                    ("relu0", nn.ReLU(inplace=True)),
                    ("drop0", nn.Dropout(0.5)),
                    ("fc1", nn.Linear(hidden, hidden)),
                    ("relu1", nn.ReLU(inplace=True)),
                    ("drop1", nn.Dropout(0.5)),
                    ("fc2", nn.Linear(hidden, num_classes)),
                ]
            )
        )
        self._init_weights()

    def _init_weights(self) -> None:
        # the authors' code draws conv weights from N(0, 0.05)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.normal_(module.weight, 0.0, CONV_INIT_STD)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))
