"""ResNet-18 in torchvision's layout: 7x7 stride-2 ``conv1``, 3x3/2 max-pool, stride-2 3x3
``conv1`` in the first block of layers 2-4 with a 1x1 stride-2 ``downsample``. Module and
state-dict names are torchvision's exactly (``layer2.0.downsample.0.weight``,
``bn1.num_batches_tracked``, ``fc.weight``), so its pretrained weights load as they are. With a
recipe's ``layers.dwm`` every conv becomes a Winograd layer: the stride-1 3x3 convs
WinogradConv2d, the others DWM layers (``winograd.dwm``).
"""

from __future__ import annotations

import torch
from torch import nn

from winoprune.models.resnet import BLOCKS_PER_STAGE, STAGE_CHANNELS
from winoprune.models.vgg import scaled


class BasicBlock(nn.Module):
    """torchvision's BasicBlock: conv1 (3x3, ``stride``), conv2 (3x3), residual."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.downsample: nn.Module | None = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet18TV(nn.Module):
    """ResNet-18 (torchvision layout): input (N, 3, H, W), H, W >= 32; logits (N, classes)."""

    input_shape = (3, 224, 224)

    def __init__(self, num_classes: int = 1000, width: float = 1.0, in_channels: int = 3) -> None:
        super().__init__()
        stem = scaled(64, width)
        self.conv1 = nn.Conv2d(in_channels, stem, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        channels = stem
        for index, base in enumerate(STAGE_CHANNELS):
            out = scaled(base, width)
            first_stride = 1 if index == 0 else 2
            blocks = [BasicBlock(channels, out, first_stride)]
            blocks += [BasicBlock(out, out) for _ in range(BLOCKS_PER_STAGE - 1)]
            setattr(self, f"layer{index + 1}", nn.Sequential(*blocks))
            channels = out
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        for module in self.modules():  # torchvision's initialisation
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for index in range(1, len(STAGE_CHANNELS) + 1):
            x = getattr(self, f"layer{index}")(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))
