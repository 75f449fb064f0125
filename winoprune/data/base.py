"""In-memory image data sets, data-set descriptions and deterministic subsets."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

import torch
from torch.utils.data import Dataset

from winoprune.data.transforms import Augment, normalize, to_float

_MIX = 0x9E3779B97F4A7C15  # 64-bit golden-ratio constant: spreads nearby seeds apart
_MASK63 = (1 << 63) - 1


def mix_seed(*parts: int) -> int:
    """A deterministic 63-bit seed from integers (run seed, epoch, sample index, ...)."""
    value = 0x5EED
    for part in parts:
        value = ((value ^ (part & _MASK63)) * _MIX + 0x7F4A7C15) & _MASK63
        value ^= value >> 29
    return value


@dataclass
class DatasetInfo:
    """What the model and the reports need to know about a data set."""

    name: str
    num_classes: int
    input_shape: tuple[int, int, int]  # (C, H, W) of one normalised sample
    classes: list[str]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    train_size: int = 0
    test_size: int = 0
    source: str = ""  # cifar-batches | image-folders | imagefolder | digits
    extra: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-ready dict."""
        return asdict(self)


def subset_indices(
    total: int, n: int | None, seed: int, stream: int, field_name: str
) -> torch.Tensor:
    """Sorted indices of ``n`` of ``total`` samples drawn by a seeded permutation (all if None).

    ``stream`` separates the training and test draws made from one seed.
    """
    if n is None:
        return torch.arange(total)
    if n < 1:
        raise ValueError(f"{field_name}: must be >= 1, got {n}")
    if n > total:
        raise ValueError(f"{field_name}: {n} exceeds the {total} images available")
    generator = torch.Generator().manual_seed(mix_seed(seed, stream))
    return torch.randperm(total, generator=generator)[:n].sort().values


class ArrayDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Images held in memory: ``images`` (N, C, H, W) uint8 or float in [0, 1], ``labels`` (N,).

    ``ds[i]`` is (normalised float image (C, H, W), int64 label). With ``augment`` every sample
    draws its crop and flip from a generator seeded by (seed, epoch, i), so the result does not
    depend on worker count or iteration order; call ``set_epoch`` to get new draws each epoch.
    ``batches`` is a faster batch-level path for in-process training loops.
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        augment: Augment | None = None,
        seed: int = 0,
    ) -> None:
        if images.dim() != 4 or labels.shape != images.shape[:1]:
            raise ValueError(
                f"images: expected (N, C, H, W) with N labels, got {tuple(images.shape)} and "
                f"{tuple(labels.shape)}"
            )
        self.images = images
        self.labels = labels.long()
        self.mean, self.std = tuple(mean), tuple(std)
        self.augment = augment
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation draws of ``epoch``."""
        self.epoch = epoch

    def _prepare(self, images: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        x = to_float(images)
        if self.augment is not None and generator is not None:
            x = self.augment(x, generator)
        return normalize(x, self.mean, self.std)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        generator = None
        if self.augment is not None:
            generator = torch.Generator().manual_seed(mix_seed(self.seed, self.epoch, index))
        return self._prepare(self.images[index : index + 1], generator)[0], self.labels[index]

    def batches(
        self,
        batch_size: int,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield (x (B, C, H, W) normalised, y (B,)) batches; shuffling and augmentation draw from
        ``generator`` (default: seeded by (seed, epoch)), so a fixed generator gives fixed batches.
        """
        if generator is None:
            generator = torch.Generator().manual_seed(mix_seed(self.seed, self.epoch, -1))
        n = len(self)
        order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
        stop = n - n % batch_size if drop_last else n
        for start in range(0, stop, batch_size):
            idx = order[start : start + batch_size]
            yield self._prepare(self.images[idx], generator), self.labels[idx]

    def subset(self, indices: torch.Tensor) -> ArrayDataset:
        """A new data set holding only ``indices`` (same normalisation and augmentation)."""
        return ArrayDataset(
            self.images[indices], self.labels[indices], self.mean, self.std, self.augment, self.seed
        )
