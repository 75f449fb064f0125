"""ResNet-18 in torchvision's layout: 7x7 stride-2 ``conv1``, 3x3/2 max-pool, stride-2 3x3
``conv1`` in the first block of layers 2-4 with a 1x1 stride-2 ``downsample``. Module and
state-dict names are torchvision's exactly (``layer2.0.downsample.0.weight``,
``bn1.num_batches_tracked``, ``fc.weight``), so its pretrained weights load as they are. With a
recipe's ``layers.dwm`` every conv becomes a Winograd layer: the stride-1 3x3 convs
WinogradConv2d, the others DWM layers (``winograd.dwm``). The layout is ``resnet``'s
(``ResNet18Base``) with strided block convs.
"""

from __future__ import annotations

from winoprune.models.resnet import ResNet18Base


class ResNet18TV(ResNet18Base):
    """ResNet-18 (torchvision layout): input (N, 3, H, W), H, W >= 32; logits (N, classes)."""

    strided_conv = True
