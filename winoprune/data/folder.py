"""Image folders (ImageNet layout: ``root/train/<class>/*``, ``root/val/<class>/*``), loaded
lazily per item with PIL, resized and cropped in plain torch/PIL."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import Dataset

from winoprune.data.base import DatasetInfo, mix_seed, subset_indices
from winoprune.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    center_crop,
    normalize,
    pil_to_tensor,
    random_resized_crop,
    resize_shorter,
    to_float,
)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".gif", ".webp")
TEST_SPLIT_NAMES = ("val", "test")
DEFAULT_IMAGE_SIZE = 224
RESIZE_RATIO = 256 / 224  # evaluate at resize 256 / centre crop 224

Sample = tuple[str, int]


def split_classes(split_dir: Path) -> list[str]:
    """Sorted names of the class sub-folders of ``split_dir``."""
    return sorted(
        e.name for e in os.scandir(split_dir) if e.is_dir() and not e.name.startswith(".")
    )


def scan_split(split_dir: Path, classes: list[str], field_name: str = "data.root") -> list[Sample]:
    """(path, label) of every image in ``split_dir/<class>/``, sorted by class then file name.

    Class folders missing from ``split_dir`` are allowed (no samples); unknown ones are errors.
    """
    index = {name: i for i, name in enumerate(classes)}
    extra = sorted(set(split_classes(split_dir)) - set(index))
    if extra:
        raise ValueError(
            f"{field_name}: {split_dir} has class folders not in the training set: {extra[:5]}"
        )
    samples: list[Sample] = []
    for name in classes:
        class_dir = split_dir / name
        if not class_dir.is_dir():
            continue
        files = sorted(
            e.name
            for e in os.scandir(class_dir)
            if e.is_file() and e.name.lower().endswith(IMAGE_EXTENSIONS)
        )
        samples += [(str(class_dir / f), index[name]) for f in files]
    if not samples:
        raise ValueError(
            f"{field_name}: {split_dir} holds no images ({', '.join(IMAGE_EXTENSIONS)})"
        )
    return samples


def find_test_split(root: Path) -> Path | None:
    """``root/val`` or ``root/test``, whichever exists first."""
    for name in TEST_SPLIT_NAMES:
        if (root / name).is_dir():
            return root / name
    return None


class FolderDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Lazily decoded image files: ``ds[i]`` is (normalised (3, S, S) float image, label).

    Training (``train=True``): random-resized crop to S and a random flip, drawn from a generator
    seeded by (seed, epoch, i). Evaluation: resize the shorter side to ``resize``, centre crop S.
    """

    def __init__(
        self,
        samples: list[Sample],
        image_size: int,
        train: bool,
        mean: tuple[float, ...] = IMAGENET_MEAN,
        std: tuple[float, ...] = IMAGENET_STD,
        seed: int = 0,
    ) -> None:
        self.samples = samples
        self.image_size = image_size
        self.resize = round(image_size * RESIZE_RATIO)
        self.train = train
        self.mean, self.std = mean, std
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.samples)

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation draws of ``epoch``."""
        self.epoch = epoch

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        path, label = self.samples[index]
        with Image.open(path) as raw:
            image = raw.convert("RGB")
        if self.train:
            generator = torch.Generator().manual_seed(mix_seed(self.seed, self.epoch, index))
            image = random_resized_crop(image, self.image_size, generator)
            if bool(torch.rand(1, generator=generator) < 0.5):
                image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        else:
            image = center_crop(resize_shorter(image, self.resize), self.image_size)
        x = normalize(to_float(pil_to_tensor(image)), self.mean, self.std)
        return x, torch.tensor(label, dtype=torch.long)

    def subset(self, indices: torch.Tensor) -> FolderDataset:
        """A new data set holding only ``indices``."""
        picked = [self.samples[i] for i in indices.tolist()]
        return FolderDataset(picked, self.image_size, self.train, self.mean, self.std, self.seed)


def build_imagefolder(
    root: Path,
    image_size: int | None,
    augment: bool,
    train_subset: int | None,
    test_subset: int | None,
    seed: int,
) -> tuple[FolderDataset, FolderDataset, DatasetInfo]:
    """Training and test sets of an ImageNet-style folder tree (see the module docstring)."""
    train_dir, test_dir = root / "train", find_test_split(root)
    if not train_dir.is_dir() or test_dir is None:
        raise ValueError(
            f"data.root: {root} has no train/ and val/ (or test/) folders of class sub-folders"
        )
    classes = split_classes(train_dir)
    size = image_size or DEFAULT_IMAGE_SIZE
    train = FolderDataset(scan_split(train_dir, classes), size, augment, seed=seed)
    test = FolderDataset(scan_split(test_dir, classes), size, False, seed=seed)
    train = train.subset(subset_indices(len(train), train_subset, seed, 0, "data.train_subset"))
    test = test.subset(subset_indices(len(test), test_subset, seed, 1, "data.test_subset"))
    info = DatasetInfo(
        name="imagefolder",
        num_classes=len(classes),
        input_shape=(3, size, size),
        classes=classes,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        train_size=len(train),
        test_size=len(test),
        source="imagefolder",
    )
    return train, test, info
