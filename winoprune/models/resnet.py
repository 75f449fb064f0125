"""ResNet-18 as torchvision's, with every stride-2 3x3 conv replaced by max-pool 2x2 + stride-1
3x3 conv (the authors' ``ResNet.max`` variant, paper-spec 4), so all 16 block convs can be
Winograd layers. The 7x7 stride-2 ``conv1`` and the 1x1 stride-2 ``downsample.0`` convs are
unchanged. Module names follow torchvision (``layer2.0.conv1``, ``layer2.0.downsample.0``).
``ResNet18Base`` holds the layout both this variant and torchvision's (``resnet_torchvision``)
share.
"""

from __future__ import annotations

import functools

import torch
from torch import nn

from winoprune.models.vgg import scaled

STAGE_CHANNELS = (64, 128, 256, 512)
BLOCKS_PER_STAGE = 2


class BasicBlock(nn.Module):
    """Two 3x3 convs with a residual; ``stride=2`` puts a 2x2 max-pool before ``conv1`` or, with
    ``strided_conv`` (torchvision's block), strides ``conv1`` itself (then there is no ``pool``)."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1, strided_conv: bool = False) -> None:
        super().__init__()
        self.pool: nn.Module | None = None
        if not strided_conv:
            # ceil_mode: the pooled size equals the 1x1 stride-2 shortcut's size on odd inputs
            self.pool = nn.MaxPool2d(2, ceil_mode=True) if stride == 2 else nn.Identity()
        conv1_stride = stride if strided_conv else 1
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=conv1_stride, padding=1, bias=False)
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
        out = self.relu(self.bn1(self.conv1(x if self.pool is None else self.pool(x))))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet18Base(nn.Module):
    """ResNet-18's layout: stem (7x7/2 conv, BN, ReLU, 3x3/2 max-pool), four stages of two
    ``BasicBlock``s (the first of stages 2-4 at stride 2; ``strided_conv`` says how), global
    average pool and ``fc``. Input (N, 3, H, W), H, W >= 32; logits (N, num_classes)."""

    input_shape = (3, 224, 224)
    strided_conv = False  # BasicBlock's: stride-2 conv1 (torchvision) or max-pool + stride 1

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
            block = functools.partial(BasicBlock, strided_conv=self.strided_conv)
            blocks = [block(channels, out, first_stride)]
            blocks += [block(out, out) for _ in range(BLOCKS_PER_STAGE - 1)]
            setattr(self, f"layer{index + 1}", nn.Sequential(*blocks))
            channels = out
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        # torchvision's initialisation
        for module in self.modules():
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


class ResNet18(ResNet18Base):
    """ResNet-18 (max-pool variant): input (N, 3, H, W), H, W >= 32; logits (N, num_classes)."""
