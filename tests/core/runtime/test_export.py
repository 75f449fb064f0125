"""Whole-model exports: the loaded export's logits equal the model's eval output; a corrupted,
mismatched or unpruned export is refused with an error naming what is wrong."""

from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from winoprune.models import build_model
from winoprune.pruning import prune_model
from winoprune.runtime import export_model, load_export, read_manifest
from winoprune.runtime.export import MANIFEST, WEIGHTS, sha256_file
from winoprune.winograd.layers import convert_model
from winoprune.winograd.transforms import cook_toom

# relative to max |logit|: float32 Winograd (the runtime) against the model's float32 layers
MODEL_RTOL = 1e-4


def _randomise_bn(model: nn.Module, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            n = module.num_features
            assert module.running_mean is not None and module.running_var is not None
            module.running_mean.copy_(torch.rand(n, generator=gen) - 0.5)
            module.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            module.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
            module.bias.data.copy_(torch.rand(n, generator=gen) - 0.5)


def _check_equal(model: nn.Module, folder: Path, shape: tuple[int, ...]) -> dict:
    runtime, manifest = load_export(folder)
    x = torch.randn(5, *shape, generator=torch.Generator().manual_seed(3))
    model.eval()
    with torch.no_grad():
        expected = model(x)
    got = runtime(x)
    assert got.shape == expected.shape
    assert float((got - expected).abs().max()) <= MODEL_RTOL * float(expected.abs().max())
    return manifest


@pytest.mark.parametrize("name,width", [("digits-cnn", 1.0), ("vgg-nagadomi", 0.125)])
def test_spatial_structured_export_equals_the_model(
    tmp_path: Path, name: str, width: float
) -> None:
    torch.manual_seed(0)
    model = build_model(name, width)
    _randomise_bn(model, 1)
    tf = cook_toom(4, 3)
    prune_model(model, "spatial-structured", 0.7, transform=tf)
    manifest = export_model(model, tf, tmp_path, model.input_shape)
    winograd = [op for op in manifest["ops"] if op["op"] == "winograd_conv"]
    assert len(winograd) == (4 if name == "digits-cnn" else 8)
    assert {op["storage"] for op in winograd} == {"kernel-blocks"}  # whole kernels dropped
    assert max(op["sparsity"] for op in winograd) >= 0.69
    assert [op["op"] for op in manifest["ops"]].count("linear") == (
        1 if name == "digits-cnn" else 3
    )
    _check_equal(model, tmp_path, model.input_shape)


@pytest.mark.parametrize("m", [2, 4, 6])
def test_winograd_direct_export_equals_the_model(tmp_path: Path, m: int) -> None:
    torch.manual_seed(m)
    model = build_model("digits-cnn")
    _randomise_bn(model, m)
    tf = cook_toom(m, 3)
    convert_model(model, m=m, transform=tf)
    prune_model(model, "winograd-direct", 0.8)
    manifest = export_model(model, tf, tmp_path, model.input_shape)
    assert manifest["tile"] == tf.name and manifest["points"] == tf.point_labels()
    assert "position-csr" in {op.get("storage") for op in manifest["ops"]}
    _check_equal(model, tmp_path, model.input_shape)


def test_strided_convs_and_dense_layers_run_as_conv2d(tmp_path: Path) -> None:
    torch.manual_seed(5)
    layers = OrderedDict(
        conv0=nn.Conv2d(3, 8, 3, padding=1),
        bn0=nn.BatchNorm2d(8),
        relu0=nn.ReLU(),
        down=nn.Conv2d(8, 8, 3, stride=2, padding=1),  # stride 2: not Winograd
        conv1=nn.Conv2d(8, 8, 3, padding=0),
        pool=nn.AdaptiveAvgPool2d(1),
        flat=nn.Flatten(),
        fc=nn.Linear(8, 4),
    )
    model = nn.Sequential(layers)
    _randomise_bn(model, 2)
    with torch.no_grad():
        model.conv1.weight[:4] = 0  # pruned kernels, so the export accepts the model
    manifest = export_model(model, cook_toom(4, 3), tmp_path, (3, 12, 12))
    kinds = [op["op"] for op in manifest["ops"]]
    assert kinds == [
        "winograd_conv",
        "relu",
        "conv",
        "winograd_conv",
        "avgpool",
        "flatten",
        "linear",
    ]
    assert manifest["ops"][0]["sparsity"] == 0.0  # a fully dense Winograd layer
    _check_equal(model, tmp_path, (3, 12, 12))


def test_an_unpruned_model_is_refused(tmp_path: Path) -> None:
    model = build_model("digits-cnn")
    with pytest.raises(ValueError, match="not pruned"):
        export_model(model, cook_toom(4, 3), tmp_path, model.input_shape)
    assert not (tmp_path / MANIFEST).exists()


def test_unsupported_modules_are_named(tmp_path: Path) -> None:
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.Sigmoid())
    with pytest.raises(ValueError, match="Sigmoid"):
        export_model(model, cook_toom(4, 3), tmp_path, (1, 8, 8))


@pytest.fixture
def exported(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    model = build_model("digits-cnn")
    prune_model(model, "spatial-structured", 0.6)
    export_model(model, cook_toom(4, 3), tmp_path, model.input_shape)
    return tmp_path


def test_a_corrupted_weights_file_is_refused(exported: Path) -> None:
    data = bytearray((exported / WEIGHTS).read_bytes())
    data[-5] ^= 0xFF
    (exported / WEIGHTS).write_bytes(bytes(data))
    with pytest.raises(ValueError, match="sha256"):
        load_export(exported)


def _rewrite(folder: Path, change) -> None:
    """Change the tensors, and re-hash, as a mismatched (not bit-rotted) export would be."""
    tensors = load_file(str(folder / WEIGHTS))
    change(tensors)
    save_file(tensors, str(folder / WEIGHTS))
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["weights_sha256"] = sha256_file(folder / WEIGHTS)
    (folder / MANIFEST).write_text(json.dumps(manifest))


def test_mismatched_tensors_are_refused(exported: Path) -> None:
    _rewrite(exported, lambda t: t.pop("features.conv1.bias"))
    with pytest.raises(ValueError, match=r"missing \['features.conv1.bias'\]"):
        load_export(exported)


def test_a_tensor_of_the_wrong_shape_is_refused(exported: Path) -> None:
    def grow(t: dict) -> None:
        t["features.conv2.bias"] = torch.zeros(7)

    _rewrite(exported, grow)
    with pytest.raises(ValueError, match=r"features\.conv2\.bias"):
        load_export(exported)


def test_out_of_range_indices_are_refused(exported: Path) -> None:
    manifest = read_manifest(exported)

    def bad_index(t: dict) -> None:
        t["features.conv2.q.col"][0] = 10_000

    _rewrite(exported, bad_index)
    assert read_manifest(exported)["ops"] == manifest["ops"]
    with pytest.raises(ValueError, match=r"features\.conv2.*column index out of range"):
        load_export(exported)


def test_a_foreign_or_broken_manifest_is_refused(exported: Path) -> None:
    manifest = json.loads((exported / MANIFEST).read_text())
    (exported / MANIFEST).write_text(json.dumps({**manifest, "version": 99}))
    with pytest.raises(ValueError, match="version"):
        load_export(exported)
    (exported / MANIFEST).write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_export(exported)
    (exported / MANIFEST).unlink()
    with pytest.raises(FileNotFoundError, match=r"manifest\.json"):
        load_export(exported)
