"""Image augmentation and normalisation in plain torch (no torchvision), seeded by a Generator.

Batch ops take float images (N, C, H, W); the PIL helpers serve the lazily loaded ImageFolder.
Every random choice draws from an explicit ``torch.Generator``, so runs are reproducible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from PIL import Image

CIFAR10_MEAN = (0.491, 0.482, 0.447)
CIFAR10_STD = (0.247, 0.243, 0.262)
CIFAR100_MEAN = (0.507, 0.487, 0.441)
CIFAR100_STD = (0.267, 0.256, 0.276)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 images in [0, 255] -> float32 in [0, 1]; float images are returned as float32."""
    if images.dtype == torch.uint8:
        return images.float().div_(255.0)
    return images.float()


def normalize(
    images: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]
) -> torch.Tensor:
    """(x - mean[c]) / std[c] per channel of (N, C, H, W) or (C, H, W) float images."""
    shape = (-1, 1, 1)
    m = torch.tensor(mean, dtype=images.dtype, device=images.device).view(shape)
    s = torch.tensor(std, dtype=images.dtype, device=images.device).view(shape)
    return (images - m) / s


def random_crop(images: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Zero-pad (N, C, H, W) by ``padding`` and crop each image back to H x W at a random offset.

    The offsets (dy, dx) are uniform in [0, 2 * padding]; out[n] = pad(x)[n, :, dy:dy+H, dx:dx+W].
    """
    if padding <= 0:
        return images
    n, _, h, w = images.shape
    padded = F.pad(images, (padding, padding, padding, padding))
    dy = torch.randint(0, 2 * padding + 1, (n, 1), generator=generator)
    dx = torch.randint(0, 2 * padding + 1, (n, 1), generator=generator)
    rows = (dy + torch.arange(h)).to(images.device)  # (N, H)
    cols = (dx + torch.arange(w)).to(images.device)  # (N, W)
    batch = torch.arange(n, device=images.device)[:, None, None]
    # advanced indexing around the channel slice gives (N, H, W, C)
    out = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]
    return out.permute(0, 3, 1, 2).contiguous()


def random_hflip(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Mirror each image of (N, C, H, W) left-right with probability 1/2."""
    flip = torch.rand(images.shape[0], generator=generator) < 0.5
    flip = flip.to(images.device).view(-1, 1, 1, 1)
    return torch.where(flip, images.flip(-1), images)


@dataclass(frozen=True)
class Augment:
    """Random crop with zero padding, then a random horizontal flip (the standard CIFAR recipe)."""

    padding: int = 4
    flip: bool = True

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Augment float images (N, C, H, W); the same generator state gives the same output."""
        out = random_crop(images, self.padding, generator)
        return random_hflip(out, generator) if self.flip else out


def pil_to_tensor(image: Image.Image) -> torch.Tensor:
    """RGB PIL image -> uint8 tensor (3, H, W)."""
    rgb = image.convert("RGB")
    data = torch.frombuffer(bytearray(rgb.tobytes()), dtype=torch.uint8)
    return data.view(rgb.height, rgb.width, 3).permute(2, 0, 1).contiguous()


def resize_shorter(image: Image.Image, size: int) -> Image.Image:
    """Resize so that the shorter side is ``size`` (bilinear), keeping the aspect ratio."""
    w, h = image.size
    scale = size / min(w, h)
    new = (max(1, round(w * scale)), max(1, round(h * scale)))
    return image.resize(new, Image.Resampling.BILINEAR)


def center_crop(image: Image.Image, size: int) -> Image.Image:
    """The central ``size`` x ``size`` region (the image must be at least that large)."""
    w, h = image.size
    left, top = (w - size) // 2, (h - size) // 2
    return image.crop((left, top, left + size, top + size))


def random_resized_crop(
    image: Image.Image,
    size: int,
    generator: torch.Generator,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
) -> Image.Image:
    """Inception-style crop: a random area fraction in ``scale`` and aspect ratio in ``ratio``
    (log-uniform), resized to ``size`` x ``size``; falls back to a central crop after 10 tries."""
    w, h = image.size
    area = w * h
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    for _ in range(10):
        u = torch.rand(4, generator=generator).tolist()
        target = area * (scale[0] + u[0] * (scale[1] - scale[0]))
        aspect = math.exp(log_lo + u[1] * (log_hi - log_lo))
        cw, ch = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
        if 0 < cw <= w and 0 < ch <= h:
            left, top = int(u[2] * (w - cw + 1)), int(u[3] * (h - ch + 1))
            box = (left, top, left + cw, top + ch)
            return image.resize((size, size), Image.Resampling.BILINEAR, box=box)
    side = min(w, h)
    return center_crop(image, side).resize((size, size), Image.Resampling.BILINEAR)
