"""Liu et al.'s ImageNet ResNet-18-var with Winograd-domain ReLU, as in their only released code
(ResNet-18-var/imagenet-resnet-transWino-prune.py:113-220; related-methods-spec 1.3).

- stem: ``conv1`` 7x7/2 (64, no bias, TF "SAME" padding), no BN, no ReLU; ``pool1`` max 3x3/2
  SAME;
- 8 blocks, two per stage (64, 128, 256, 512), all 3x3 convs stride-1 Winograd-ReLU layers:
  branch ``bn0 -> conv1 -> bn1 -> conv2 -> bn2`` (each conv rectifies its transformed tiles, no
  spatial ReLU inside); shortcut of a stage's first block ``downsample``: [BN ->] ReLU -> 1x1
  conv -> BN (the BN only in ``layer1.0``, whose input has none), else ``ReLU(x)``;
  block output = shortcut + branch;
- ``pool2``, ``pool3`` (max 3x3/2 SAME) after stages 1 and 2; none after stage 3 (commented out
  in the code), so stage 4 runs at 14 x 14 for 224 inputs;
- head: ReLU -> global average pool -> dropout 0.15 (keep_prob 0.85) -> ``fc``.

The spatial convs use the code's initialiser (truncated normal, sigma^2 = 1.3 * 2 / fan_out);
the FC layer keeps torch's default (the code's is not stated there).
"""

from __future__ import annotations

import math
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from winoprune.models.vgg import scaled
from winoprune.models.wrelu import DEFAULT_Q_INIT, DEFAULT_TILE, check_options
from winoprune.winograd.relu import QInit, WinogradReLUConv2d
from winoprune.winograd.transforms import WinogradTransform

STAGE_CHANNELS = (64, 128, 256, 512)
POOL_AFTER = (True, True, False, False)  # pool2, pool3; pool4 is commented out in the code
HEAD_DROPOUT = 0.15
RESNET_VAR_OPTIONS = ("tile", "q_init")


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF "SAME" padding (before, after) of one axis: output ``ceil(size / stride)``."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def pad_same(x: torch.Tensor, kernel: int, stride: int, value: float = 0.0) -> torch.Tensor:
    """x (N, C, H, W) padded as TF "SAME" pads it for a kernel and stride."""
    top, bottom = same_padding(x.shape[2], kernel, stride)
    left, right = same_padding(x.shape[3], kernel, stride)
    return F.pad(x, (left, right, top, bottom), value=value)


class MaxPoolSame(nn.Module):
    """TF's ``MaxPooling(l, 3, stride=2, padding='SAME')``: padding never wins the max."""

    def __init__(self, kernel: int = 3, stride: int = 2) -> None:
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        padded = pad_same(x, self.kernel, self.stride, float("-inf"))
        return F.max_pool2d(padded, self.kernel, self.stride)


def _truncated_fan_out_(conv: nn.Conv2d) -> None:
    fan_out = conv.out_channels * conv.kernel_size[0] * conv.kernel_size[1]
    sigma = math.sqrt(1.3 * 2.0 / fan_out)
    with torch.no_grad():
        nn.init.trunc_normal_(conv.weight, 0.0, sigma, -2 * sigma, 2 * sigma)


class WReLUBlock(nn.Module):
    """One ResNet-18-var block: Winograd-ReLU branch plus a ReLU (or 1x1 conv) shortcut."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        tf: WinogradTransform,
        q_init: QInit,
        projection: bool,
        bn_before_shortcut: bool = False,
    ) -> None:
        super().__init__()
        self.bn0 = nn.BatchNorm2d(c_in)
        self.conv1 = WinogradReLUConv2d(c_in, c_out, tf, bias=False, init=q_init)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = WinogradReLUConv2d(c_out, c_out, tf, bias=False, init=q_init)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.downsample: nn.Module | None = None
        if projection:
            conv = nn.Conv2d(c_in, c_out, 1, bias=False)
            _truncated_fan_out_(conv)
            pre: list[nn.Module] = [nn.BatchNorm2d(c_in)] if bn_before_shortcut else []
            self.downsample = nn.Sequential(*pre, nn.ReLU(), conv, nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch = self.bn2(self.conv2(self.bn1(self.conv1(self.bn0(x)))))
        shortcut = F.relu(x) if self.downsample is None else self.downsample(x)
        return shortcut + branch


class ResNet18VarWReLU(nn.Module):
    """ResNet-18-var: input (N, 3, H, W), logits (N, num_classes); 16 Winograd-ReLU layers."""

    input_shape = (3, 224, 224)

    def __init__(
        self,
        num_classes: int = 1000,
        width: float = 1.0,
        in_channels: int = 3,
        *,
        tile: str = DEFAULT_TILE,
        q_init: str = DEFAULT_Q_INIT,
    ) -> None:
        super().__init__()
        tf = check_options(tile, "winograd-relu", q_init)
        init = cast(QInit, q_init)
        stem = scaled(STAGE_CHANNELS[0], width)
        self.conv1 = nn.Conv2d(in_channels, stem, 7, stride=2, bias=False)  # padded SAME
        _truncated_fan_out_(self.conv1)
        self.pool1 = MaxPoolSame()
        channels = stem
        for index, base in enumerate(STAGE_CHANNELS):
            out = scaled(base, width)
            blocks = [
                WReLUBlock(channels, out, tf, init, True, bn_before_shortcut=index == 0),
                WReLUBlock(out, out, tf, init, False),
            ]
            setattr(self, f"layer{index + 1}", nn.Sequential(*blocks))
            if POOL_AFTER[index]:
                setattr(self, f"pool{index + 2}", MaxPoolSame())
            channels = out
        self.relu = nn.ReLU()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(HEAD_DROPOUT)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(self.conv1(pad_same(x, 7, 2)))
        for index in range(len(STAGE_CHANNELS)):
            x = getattr(self, f"layer{index + 1}")(x)
            if POOL_AFTER[index]:
                x = getattr(self, f"pool{index + 2}")(x)
        x = torch.flatten(self.avgpool(self.relu(x)), 1)
        return self.fc(self.dropout(x))
