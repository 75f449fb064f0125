"""scikit-learn's 8x8 digits (1,797 grey images, 10 classes) for demos and tests."""

from __future__ import annotations

import torch
from sklearn.datasets import load_digits

SPLIT_SEED = 0  # the train/test split never depends on the run's seed
TEST_SIZE = 360  # 1,437 training / 360 test images
PIXEL_MAX = 16.0  # digits pixels are integers in 0..16


def load_digits_split() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(train x, train y, test x, test y); x float32 (N, 1, 8, 8) in [0, 1], y int64 (N,)."""
    bunch = load_digits()
    images = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / PIXEL_MAX
    labels = torch.tensor(bunch.target, dtype=torch.long)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(SPLIT_SEED))
    test, train = order[:TEST_SIZE].sort().values, order[TEST_SIZE:].sort().values
    return images[train], labels[train], images[test], labels[test]


def digits_stats(train_images: torch.Tensor) -> tuple[tuple[float], tuple[float]]:
    """Pixel mean and std of the training images, for normalisation."""
    return (float(train_images.mean()),), (float(train_images.std()),)
