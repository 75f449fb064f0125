"""CIFAR-10 / CIFAR-100 from the standard python batch files or from image folders.

Layouts, detected from ``root`` (or its ``cifar-10-batches-py`` / ``cifar-100-python`` child):
- CIFAR-10 batches: ``data_batch_1`` .. ``data_batch_5``, ``test_batch``, ``batches.meta``;
- CIFAR-100 batches: ``train``, ``test``, ``meta``;
- image folders: ``train/<class>/*.jpg|png``, ``test/<class>/*``. Decoded once into uint8
  (N, 3, 32, 32) arrays and cached as a plain .npz under the cache directory.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import pickle  # the standard CIFAR format, read with a restricted unpickler
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from winoprune.data.folder import scan_split, split_classes

CIFAR10_BATCHES = (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch")
CIFAR100_FILES = ("train", "test")
SUBDIRS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}
IMAGE_SIZE = 32
CACHE_VERSION = 1

# train images, train labels, test images, test labels, class names
Arrays = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, list[str]]


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles only what CIFAR batches hold: dicts, lists, bytes, str, numbers and numpy
    arrays. Any other global (os.system, builtins.eval, ...) is refused, so a crafted file in
    a data folder cannot run code."""

    ALLOWED: frozenset[tuple[str, str]] = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy.core.multiarray", "scalar"),
            ("numpy._core.multiarray", "scalar"),
            ("numpy.core.numeric", "_frombuffer"),  # protocol 5
            ("numpy._core.numeric", "_frombuffer"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("_codecs", "encode"),  # how protocol-2 pickles written by python 3 store bytes
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed")
        if module == "_codecs":
            import codecs

            return codecs.encode
        # numpy 1 wrote numpy.core.*, numpy 2 writes numpy._core.*: the same functions
        return getattr(importlib.import_module(module.replace("numpy.core", "numpy._core")), name)


def _unpickle(path: Path) -> dict[Any, Any]:
    """Read a CIFAR python batch with the restricted unpickler (never arbitrary objects)."""
    try:
        with path.open("rb") as f:
            data = _BatchUnpickler(f, encoding="bytes").load()
    except (
        pickle.UnpicklingError,
        EOFError,
        AttributeError,
        ImportError,
        IndexError,
        TypeError,
    ) as exc:
        raise ValueError(f"data.root: {path} is not a CIFAR batch ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"data.root: {path} is not a CIFAR batch (a pickled dict)")
    return data


def _get(batch: dict[Any, Any], key: str, path: Path) -> Any:
    # python-2 pickles give bytes keys, python-3 ones str keys
    for k in (key.encode(), key):
        if k in batch:
            return batch[k]
    raise ValueError(f"data.root: {path} has no {key!r} entry")


def _images(batch: dict[Any, Any], path: Path) -> torch.Tensor:
    data = np.asarray(_get(batch, "data", path), dtype=np.uint8)
    if data.ndim != 2 or data.shape[1] != 3 * IMAGE_SIZE * IMAGE_SIZE:
        raise ValueError(f"data.root: {path} 'data' must be (N, 3072) uint8, got {data.shape}")
    return torch.from_numpy(data.reshape(-1, 3, IMAGE_SIZE, IMAGE_SIZE).copy())


def _names(values: list[Any]) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def detect_layout(root: Path, name: str) -> tuple[str, Path]:
    """("batches" | "folders", directory) of the CIFAR data under ``root``; ValueError if none."""
    if not root.exists():
        raise ValueError(f"data.root: {root} does not exist")
    if not root.is_dir():
        raise ValueError(f"data.root: {root} is not a directory")
    batch_files = CIFAR10_BATCHES if name == "cifar10" else CIFAR100_FILES
    for candidate in (root, root / SUBDIRS[name]):
        if all((candidate / f).is_file() for f in batch_files):
            return "batches", candidate
    if (root / "train").is_dir() and (root / "test").is_dir():
        return "folders", root
    expected = ", ".join(batch_files)
    raise ValueError(
        f"data.root: {root} has neither {name} batch files ({expected}) nor train/ and test/ "
        "image folders"
    )


def load_batches(directory: Path, name: str) -> Arrays:
    """Read the standard python batches of CIFAR-10 or CIFAR-100 (fine labels)."""
    if name == "cifar10":
        label_key, meta_file, names_key = "labels", "batches.meta", "label_names"
        train_files, test_files = CIFAR10_BATCHES[:5], CIFAR10_BATCHES[5:]
    else:
        label_key, meta_file, names_key = "fine_labels", "meta", "fine_label_names"
        train_files, test_files = CIFAR100_FILES[:1], CIFAR100_FILES[1:]

    def read(files: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
        batches = [(directory / f, _unpickle(directory / f)) for f in files]
        images = torch.cat([_images(b, p) for p, b in batches])
        labels = torch.cat([torch.as_tensor(_get(b, label_key, p)) for p, b in batches]).long()
        return images, labels

    train_x, train_y = read(train_files)
    test_x, test_y = read(test_files)
    meta_path = directory / meta_file
    n_classes = int(max(train_y.max(), test_y.max())) + 1
    if meta_path.is_file():
        classes = _names(_get(_unpickle(meta_path), names_key, meta_path))
    else:
        classes = [str(i) for i in range(n_classes)]
    if n_classes > len(classes) or int(min(train_y.min(), test_y.min())) < 0:
        raise ValueError(f"data.root: {directory} labels fall outside the {len(classes)} classes")
    return train_x, train_y, test_x, test_y, classes


def _decode(path: str) -> np.ndarray:
    with Image.open(path) as raw:
        image = raw.convert("RGB")
    if image.size != (IMAGE_SIZE, IMAGE_SIZE):
        image = image.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.uint8)


def _cache_key(root: Path, samples: list[tuple[str, int]], classes: list[str]) -> str:
    # any added, removed, renamed, resized or touched file changes the key
    digest = hashlib.sha256(f"v{CACHE_VERSION}|{root.resolve()}|{classes}".encode())
    for path, label in samples:
        st = os.stat(path)
        digest.update(f"{path}|{label}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:32]


def _decode_split(
    split_dir: Path, classes: list[str], cache_dir: Path | None
) -> tuple[torch.Tensor, torch.Tensor]:
    samples = scan_split(split_dir, classes)
    cache_file = None
    if cache_dir is not None:
        cache_file = cache_dir / "cifar-decoded" / f"{_cache_key(split_dir, samples, classes)}.npz"
        if cache_file.is_file():
            with np.load(cache_file, allow_pickle=False) as cached:
                return torch.from_numpy(cached["images"]), torch.from_numpy(cached["labels"])
    images = np.stack([_decode(path) for path, _ in samples]).transpose(0, 3, 1, 2)
    images = np.ascontiguousarray(images)
    labels = np.array([label for _, label in samples], dtype=np.int64)
    if cache_file is not None:
        _write_cache(cache_file, images, labels)
    return torch.from_numpy(images), torch.from_numpy(labels)


def _write_cache(cache_file: Path, images: np.ndarray, labels: np.ndarray) -> None:
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        partial = cache_file.with_suffix(f".{os.getpid()}.partial")
        with partial.open("wb") as f:
            np.savez(f, images=images, labels=labels)
        os.replace(partial, cache_file)  # atomic: readers never see half a file
    except OSError:
        pass  # a read-only or full cache directory only costs the next run a re-decode


def load_folders(root: Path, cache_dir: Path | None) -> Arrays:
    """Decode ``root/train/<class>/*`` and ``root/test/<class>/*`` into uint8 (N, 3, 32, 32)."""
    classes = split_classes(root / "train")
    if not classes:
        raise ValueError(f"data.root: {root}/train has no class folders")
    train_x, train_y = _decode_split(root / "train", classes, cache_dir)
    test_x, test_y = _decode_split(root / "test", classes, cache_dir)
    return train_x, train_y, test_x, test_y, classes


def load_cifar(root: Path, name: str, cache_dir: Path | None) -> tuple[Arrays, str]:
    """CIFAR arrays from whichever layout ``root`` holds, and the layout's name."""
    layout, directory = detect_layout(root, name)
    if layout == "batches":
        return load_batches(directory, name), "cifar-batches"
    return load_folders(directory, cache_dir), "image-folders"
