"""Data sets for recipes: ``build_datasets(spec) -> (train_ds, test_ds, info)``.

``spec`` is a recipe's ``data`` section (``winoprune.recipes.DataSpec``), a dict of the same
fields, or keyword arguments. Data sets: ``digits`` (scikit-learn, no root), ``cifar10`` /
``cifar100`` (standard python batches or ``train/`` + ``test/`` image folders, in memory) and
``imagefolder`` (ImageNet layout, decoded lazily per item).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError
from torch.utils.data import DataLoader

from winoprune.data.base import ArrayDataset, DatasetInfo, mix_seed, subset_indices
from winoprune.data.cifar import load_cifar
from winoprune.data.digits import digits_stats, load_digits_split
from winoprune.data.folder import FolderDataset, build_imagefolder
from winoprune.data.transforms import (
    CIFAR10_MEAN,
    CIFAR10_STD,
    CIFAR100_MEAN,
    CIFAR100_STD,
    Augment,
)
from winoprune.recipes import DataSpec, validation_errors

__all__ = [
    "DEFAULT_CACHE_DIR",
    "ArrayDataset",
    "Augment",
    "DatasetInfo",
    "FolderDataset",
    "ImageDataset",
    "build_datasets",
    "iter_batches",
    "mix_seed",
]

DEFAULT_CACHE_DIR = Path("~/.cache/winoprune")
_USE_DEFAULT: Any = object()
ImageDataset = ArrayDataset | FolderDataset


def _as_spec(spec: DataSpec | Mapping[str, Any] | None, fields: dict[str, Any]) -> DataSpec:
    if isinstance(spec, DataSpec) and not fields:
        return spec
    values = dict(spec.model_dump() if isinstance(spec, DataSpec) else spec or {}) | fields
    try:
        return DataSpec.model_validate(values)
    except ValidationError as exc:
        first = validation_errors(exc, prefix="data")[0]
        raise ValueError(f"{first['loc']}: {first['msg']}") from None


def _subsets(
    train: ArrayDataset, test: ArrayDataset, spec: DataSpec, seed: int
) -> tuple[ArrayDataset, ArrayDataset]:
    train_idx = subset_indices(len(train), spec.train_subset, seed, 0, "data.train_subset")
    test_idx = subset_indices(len(test), spec.test_subset, seed, 1, "data.test_subset")
    return train.subset(train_idx), test.subset(test_idx)


def _digits(spec: DataSpec, seed: int) -> tuple[ArrayDataset, ArrayDataset, DatasetInfo]:
    train_x, train_y, test_x, test_y = load_digits_split()
    mean, std = digits_stats(train_x)
    # 8x8 digits are not mirror-symmetric and have no border to crop into: no augmentation
    train = ArrayDataset(train_x, train_y, mean, std, None, seed)
    test = ArrayDataset(test_x, test_y, mean, std, None, seed)
    train, test = _subsets(train, test, spec, seed)
    classes = [str(d) for d in range(10)]
    info = DatasetInfo("digits", 10, (1, 8, 8), classes, mean, std, len(train), len(test), "digits")
    return train, test, info


def _cifar(
    spec: DataSpec, seed: int, cache_dir: Path | None
) -> tuple[ArrayDataset, ArrayDataset, DatasetInfo]:
    assert spec.root is not None
    (train_x, train_y, test_x, test_y, classes), source = load_cifar(
        Path(spec.root).expanduser(), spec.name, cache_dir
    )
    mean, std = (
        (CIFAR10_MEAN, CIFAR10_STD) if spec.name == "cifar10" else (CIFAR100_MEAN, CIFAR100_STD)
    )
    augment = Augment(padding=spec.crop_padding, flip=True) if spec.augment else None
    train = ArrayDataset(train_x, train_y, mean, std, augment, seed)
    test = ArrayDataset(test_x, test_y, mean, std, None, seed)
    train, test = _subsets(train, test, spec, seed)
    shape = (int(train_x.shape[1]), int(train_x.shape[2]), int(train_x.shape[3]))
    info = DatasetInfo(
        spec.name, len(classes), shape, classes, mean, std, len(train), len(test), source
    )
    return train, test, info


def build_datasets(
    spec: DataSpec | Mapping[str, Any] | None = None,
    *,
    seed: int = 0,
    cache_dir: str | Path | None = _USE_DEFAULT,
    **fields: Any,
) -> tuple[ImageDataset, ImageDataset, DatasetInfo]:
    """Build (train_ds, test_ds, info) for a recipe's data section.

    Items are (normalised float image (C, H, W), int64 label). ``seed`` (the recipe's) fixes the
    subsets and the augmentation draws. ``cache_dir`` holds decoded CIFAR image folders
    (default ``~/.cache/winoprune``; None disables caching). Raises ValueError naming the field,
    e.g. "data.root: /x/y does not exist".
    """
    data = _as_spec(spec, fields)
    if data.name == "digits":
        return _digits(data, seed)
    if data.root is None:
        raise ValueError(f"data.root: required for {data.name}")
    if data.name == "imagefolder":
        root = Path(data.root).expanduser()
        if not root.is_dir():
            raise ValueError(f"data.root: {root} does not exist or is not a directory")
        return build_imagefolder(
            root, data.image_size, data.augment, data.train_subset, data.test_subset, seed
        )
    if cache_dir is _USE_DEFAULT:
        cache_dir = DEFAULT_CACHE_DIR
    cache = Path(cache_dir).expanduser() if cache_dir is not None else None
    return _cifar(data, seed, cache)


def iter_batches(
    dataset: ImageDataset,
    batch_size: int,
    shuffle: bool = False,
    generator: torch.Generator | None = None,
    num_workers: int = 0,
    drop_last: bool = False,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(x (B, C, H, W), y (B,)) batches: the fast in-memory path for ArrayDataset without
    workers, else a DataLoader (augmentation then seeded per item by (seed, epoch, index)).
    Call ``dataset.set_epoch(epoch)`` first for fresh augmentation draws each epoch."""
    if isinstance(dataset, ArrayDataset) and num_workers == 0:
        yield from dataset.batches(batch_size, shuffle, generator, drop_last)
        return
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        generator=generator,
        num_workers=num_workers,
        drop_last=drop_last,
        persistent_workers=False,
    )
    yield from loader
