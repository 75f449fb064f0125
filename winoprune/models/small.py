"""Small CNNs for demos and tests: the 8x8 digits CNN and a tiny 32x32 CIFAR CNN."""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from winoprune.models.vgg import scaled


def _conv_stack(plan: tuple[int | str, ...], in_channels: int, width: float) -> nn.Sequential:
    """Conv3x3-BN-ReLU for every int in ``plan`` (its channel count), 2x2 max-pool for "M"."""
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    channels, conv_index, pool_index = in_channels, 0, 0
    for item in plan:
        if item == "M":
            layers[f"pool{pool_index}"] = nn.MaxPool2d(2)
            pool_index += 1
            continue
        out = scaled(int(item), width)
        layers[f"conv{conv_index}"] = nn.Conv2d(channels, out, 3, padding=1, bias=False)
        layers[f"bn{conv_index}"] = nn.BatchNorm2d(out)
        layers[f"relu{conv_index}"] = nn.ReLU(inplace=True)
        channels, conv_index = out, conv_index + 1
    return nn.Sequential(layers)


class SmallCNN(nn.Module):
    """A conv stack, a global average pool and one linear layer: logits (N, num_classes)."""

    def __init__(
        self,
        plan: tuple[int | str, ...],
        num_classes: int,
        width: float,
        in_channels: int,
        input_shape: tuple[int, int, int],
    ) -> None:
        super().__init__()
        self.input_shape = input_shape
        self.features = _conv_stack(plan, in_channels, width)
        last = [m for m in self.features if isinstance(m, nn.Conv2d)][-1].out_channels
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(last, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


def digits_cnn(num_classes: int = 10, width: float = 1.0, in_channels: int = 1) -> SmallCNN:
    """Digits CNN for 8x8 grey images: conv3-16 x2, pool, conv3-32 x2, pool, FC (4 3x3 convs)."""
    plan: tuple[int | str, ...] = (16, 16, "M", 32, 32, "M")
    return SmallCNN(plan, num_classes, width, in_channels, (in_channels, 8, 8))


def cifar_tiny(num_classes: int = 10, width: float = 1.0, in_channels: int = 3) -> SmallCNN:
    """Tiny 32x32 CNN for tests: conv3-16, pool, conv3-32 x2, pool, conv3-64, pool, FC."""
    plan: tuple[int | str, ...] = (16, "M", 32, 32, "M", 64, "M")
    return SmallCNN(plan, num_classes, width, in_channels, (in_channels, 32, 32))
