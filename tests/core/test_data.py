"""Data sets: CIFAR batch files and image folders built in tmp_path, ImageFolder, digits,
augmentation determinism, subsets and error messages."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from winoprune.data import ArrayDataset, Augment, build_datasets, iter_batches
from winoprune.data import cifar as cifar_module
from winoprune.data.transforms import (
    CIFAR100_MEAN,
    CIFAR100_STD,
    random_crop,
    random_hflip,
    random_resized_crop,
)

CLASSES = ["cat", "dog", "ship"]


def fake_images(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)


def write_pickle(path: Path, obj: dict) -> None:
    with path.open("wb") as f:
        pickle.dump(obj, f, protocol=2)


def make_cifar10_batches(root: Path) -> tuple[np.ndarray, list[int]]:
    """Five 4-image training batches and a 3-image test batch, with bytes keys (python 2)."""
    root.mkdir(parents=True, exist_ok=True)
    images, labels = fake_images(23, seed=1), [i % 10 for i in range(23)]
    for b in range(5):
        batch = {
            b"data": images[b * 4 : b * 4 + 4].reshape(4, -1),
            b"labels": labels[b * 4 : b * 4 + 4],
        }
        write_pickle(root / f"data_batch_{b + 1}", batch)
    write_pickle(root / "test_batch", {b"data": images[20:].reshape(3, -1), b"labels": labels[20:]})
    names = [f"c{i}".encode() for i in range(10)]
    write_pickle(root / "batches.meta", {b"label_names": names})
    return images, labels


def make_image_folders(root: Path, splits: dict[str, int], size: tuple[int, int]) -> None:
    """``root/<split>/<class>/<i>.png`` (lossless), pixel value encodes the class."""
    for split, per_class in splits.items():
        for label, name in enumerate(CLASSES):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                pixels = np.full((size[1], size[0], 3), 40 * label + i, dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")


def raw_pixels(ds: ArrayDataset, index: int) -> torch.Tensor:
    """Undo the normalisation of ds[index] back to uint8 pixel values."""
    x, _ = ds[index]
    mean, std = torch.tensor(ds.mean).view(-1, 1, 1), torch.tensor(ds.std).view(-1, 1, 1)
    return ((x * std + mean) * 255).round().to(torch.uint8)


def test_cifar10_batches_load_with_labels_classes_and_pixels(tmp_path: Path) -> None:
    images, labels = make_cifar10_batches(tmp_path / "cifar-10-batches-py")
    # the standard archive's sub-folder is found from its parent
    train, test, info = build_datasets(name="cifar10", root=str(tmp_path), augment=False)
    assert (len(train), len(test)) == (20, 3)
    assert info.num_classes == 10 and info.classes[3] == "c3"
    assert info.input_shape == (3, 32, 32) and info.source == "cifar-batches"
    assert train.labels.tolist() == labels[:20] and test.labels.tolist() == labels[20:]
    assert torch.equal(raw_pixels(train, 5), torch.from_numpy(images[5]))
    assert torch.equal(raw_pixels(test, 2), torch.from_numpy(images[22]))


def test_cifar100_python_files_with_fine_labels(tmp_path: Path) -> None:
    images = fake_images(7, seed=2)
    fine = [0, 99, 5, 7, 42, 1, 2]
    write_pickle(tmp_path / "train", {"data": images[:5].reshape(5, -1), "fine_labels": fine[:5]})
    write_pickle(tmp_path / "test", {"data": images[5:].reshape(2, -1), "fine_labels": fine[5:]})
    write_pickle(tmp_path / "meta", {"fine_label_names": [f"k{i}" for i in range(100)]})
    train, test, info = build_datasets(name="cifar100", root=str(tmp_path), augment=False)
    assert info.num_classes == 100 and info.classes[99] == "k99"
    assert train.labels.tolist() == fine[:5] and test.labels.tolist() == fine[5:]
    assert info.mean == CIFAR100_MEAN and info.std == CIFAR100_STD


def test_cifar_image_folders_decode_once_and_use_the_cache(tmp_path: Path, monkeypatch) -> None:
    root, cache = tmp_path / "jpgs", tmp_path / "cache"
    make_image_folders(root, {"train": 3, "test": 2}, size=(32, 32))
    train, test, info = build_datasets(
        name="cifar10", root=str(root), cache_dir=cache, augment=False
    )
    assert info.classes == CLASSES and info.source == "image-folders"
    assert (len(train), len(test)) == (9, 6)
    assert train.labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert int(raw_pixels(train, 4)[0, 0, 0]) == 40 * 1 + 1  # class dog, image 1
    assert len(list((cache / "cifar-decoded").glob("*.npz"))) == 2

    def no_decoding(path: str) -> np.ndarray:
        raise AssertionError("decoded although cached")

    monkeypatch.setattr(cifar_module, "_decode", no_decoding)
    again, _, _ = build_datasets(name="cifar10", root=str(root), cache_dir=cache, augment=False)
    assert torch.equal(again.images, train.images)
    # a changed file invalidates the cache
    (root / "train" / "cat" / "0.png").touch()
    os.utime(root / "train" / "cat" / "0.png", ns=(1, 1))
    with pytest.raises(AssertionError, match="decoded although cached"):
        build_datasets(name="cifar10", root=str(root), cache_dir=cache)


def test_image_folders_of_other_sizes_are_resized_to_32(tmp_path: Path) -> None:
    make_image_folders(tmp_path, {"train": 1, "test": 1}, size=(40, 24))
    train, _, _ = build_datasets(name="cifar10", root=str(tmp_path), cache_dir=None)
    assert train.images.shape == (3, 3, 32, 32) and train.images.dtype == torch.uint8


def test_imagefolder_is_lazy_with_crops_and_deterministic_draws(tmp_path: Path) -> None:
    make_image_folders(tmp_path, {"train": 2, "val": 1}, size=(40, 30))
    train, val, info = build_datasets(name="imagefolder", root=str(tmp_path), image_size=16)
    assert info.input_shape == (3, 16, 16) and info.num_classes == 3
    assert (len(train), len(val)) == (6, 3)
    x, y = train[3]
    assert x.shape == (3, 16, 16) and int(y) == 1
    assert torch.equal(train[3][0], x)  # same (seed, epoch, index): same crop
    assert val[2][0].shape == (3, 16, 16) and int(val[2][1]) == 2
    first = list(iter_batches(train, 4, shuffle=True, generator=torch.Generator().manual_seed(1)))
    again = list(iter_batches(train, 4, shuffle=True, generator=torch.Generator().manual_seed(1)))
    assert [tuple(x.shape) for x, _ in first] == [(4, 3, 16, 16), (2, 3, 16, 16)]
    assert all(torch.equal(a[1], b[1]) and torch.equal(a[0], b[0]) for a, b in zip(first, again))
    crop = random_resized_crop(Image.new("RGB", (50, 20)), 12, torch.Generator().manual_seed(0))
    assert crop.size == (12, 12)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "cifar10", "root": "/no/such/dir"}, r"^data\.root: /no/such/dir does not exist"),
        ({"name": "cifar10"}, r"^data\.root: required for cifar10"),
        ({"name": "imagefolder", "root": "/no/such/dir"}, r"^data\.root: /no/such/dir"),
        ({"name": "mnist"}, r"^data\.name: "),
        ({"name": "digits", "train_subset": 0}, r"^data\.train_subset: must be in"),
        ({"name": "digits", "train_subset": 5000}, r"^data\.train_subset: 5000 exceeds the 1437"),
    ],
)
def test_bad_data_sections_name_the_field(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_datasets(**kwargs)


def test_empty_or_malformed_cifar_roots_say_what_was_expected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"has neither cifar10 batch files \(data_batch_1.*test/"):
        build_datasets(name="cifar10", root=str(tmp_path))
    make_cifar10_batches(tmp_path)
    write_pickle(tmp_path / "test_batch", {b"data": np.zeros((2, 10), np.uint8), b"labels": [0, 1]})
    with pytest.raises(ValueError, match=r"^data\.root: .*test_batch 'data' must be \(N, 3072\)"):
        build_datasets(name="cifar10", root=str(tmp_path))
    imagenet = tmp_path / "imagenet"
    (imagenet / "train").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"^data\.root: .* no train/ and val/"):
        build_datasets(name="imagefolder", root=str(imagenet))


def test_digits_split_is_fixed_and_normalised() -> None:
    train, test, info = build_datasets(name="digits", seed=3)
    _, test2, _ = build_datasets(name="digits", seed=4)
    assert (len(train), len(test)) == (1437, 360)
    assert info.input_shape == (1, 8, 8) and info.num_classes == 10
    assert torch.equal(test.images, test2.images)  # the split does not depend on the run seed
    x = torch.stack([train[i][0] for i in range(len(train))])
    assert abs(float(x.mean())) < 1e-4 and float(x.std()) == pytest.approx(1.0, abs=1e-3)


def test_subsets_are_seeded_and_disjoint_streams() -> None:
    a, at, _ = build_datasets(name="digits", train_subset=100, test_subset=50, seed=1)
    b, _, _ = build_datasets(name="digits", train_subset=100, seed=1)
    c, _, _ = build_datasets(name="digits", train_subset=100, seed=2)
    assert (len(a), len(at)) == (100, 50)
    assert torch.equal(a.images, b.images)
    assert not torch.equal(a.images, c.images)


def test_random_crop_shifts_a_zero_padded_window() -> None:
    images = torch.rand(6, 3, 8, 8)
    out = random_crop(images, 2, torch.Generator().manual_seed(0))
    padded = torch.nn.functional.pad(images, (2, 2, 2, 2))
    for n in range(6):
        windows = [padded[n, :, dy : dy + 8, dx : dx + 8] for dy in range(5) for dx in range(5)]
        assert any(torch.equal(out[n], w) for w in windows)
    flipped = random_hflip(images, torch.Generator().manual_seed(0))
    assert all(torch.equal(f, i) or torch.equal(f, i.flip(-1)) for f, i in zip(flipped, images))


def test_augmentation_is_deterministic_given_the_generator() -> None:
    images = torch.rand(64, 3, 32, 32)
    augment = Augment(padding=4)
    first = augment(images, torch.Generator().manual_seed(7))
    assert first.shape == images.shape
    assert torch.equal(first, augment(images, torch.Generator().manual_seed(7)))
    assert not torch.equal(first, augment(images, torch.Generator().manual_seed(8)))


def test_array_dataset_items_depend_on_seed_epoch_and_index_only() -> None:
    images = (torch.rand(10, 3, 32, 32) * 255).to(torch.uint8)
    ds = ArrayDataset(images, torch.arange(10), (0.5,) * 3, (0.25,) * 3, Augment(padding=4), seed=0)
    a = ds[3][0]
    assert torch.equal(ds[3][0], a)
    ds.set_epoch(1)
    assert not torch.equal(ds[3][0], a)
    batches = list(ds.batches(4, shuffle=True, generator=torch.Generator().manual_seed(0)))
    again = list(ds.batches(4, shuffle=True, generator=torch.Generator().manual_seed(0)))
    assert [b[0].shape[0] for b in batches] == [4, 4, 2]
    assert all(torch.equal(x, y) for (x, _), (y, _) in zip(batches, again))
    assert sorted(torch.cat([y for _, y in batches]).tolist()) == list(range(10))
