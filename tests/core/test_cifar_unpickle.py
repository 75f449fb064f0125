"""CIFAR batches are read with a restricted unpickler: arrays and plain values load, any other
global (a crafted file in a data folder) is refused before it can run."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from tests.core.test_data import make_cifar10_batches, write_pickle
from winoprune.data.cifar import load_cifar


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_batches_load_with_every_pickle_protocol(tmp_path: Path, protocol: int) -> None:
    images, labels = make_cifar10_batches(tmp_path)
    for path in tmp_path.iterdir():  # rewrite them with this protocol
        with path.open("rb") as f:
            data = pickle.load(f)
        with path.open("wb") as f:
            pickle.dump(data, f, protocol=protocol)
    (train_x, train_y, test_x, test_y, names), layout = load_cifar(tmp_path, "cifar10", None)
    assert layout == "cifar-batches" and names == [f"c{i}" for i in range(10)]
    assert np.array_equal(train_x.numpy(), images[:20]) and train_y.tolist() == labels[:20]
    assert np.array_equal(test_x.numpy(), images[20:]) and test_y.tolist() == labels[20:]


@pytest.mark.parametrize("payload", ["os.system", "builtins.eval"])
def test_crafted_batches_are_refused_without_running(tmp_path: Path, payload: str) -> None:
    make_cifar10_batches(tmp_path)
    marker = tmp_path / "pwned"
    if payload == "os.system":
        evil: object = {b"data": _Exploit(marker), b"labels": [0]}
    else:
        evil = {b"data": _Eval(f"open({str(marker)!r}, 'w')"), b"labels": [0]}
    write_pickle(tmp_path / "data_batch_1", evil)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"data\.root: .*data_batch_1 is not a CIFAR batch"):
        load_cifar(tmp_path, "cifar10", None)
    assert not marker.exists()


class _Eval:
    def __init__(self, code: str) -> None:
        self.code = code

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (eval, (self.code,))
