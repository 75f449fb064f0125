"""Sensitivity scans: one layer pruned at a time, sparsity reached on the grid, validation split."""

import pytest
import torch
from safetensors.torch import save_file

from winoprune.data import build_datasets
from winoprune.models import build_model
from winoprune.recipes import parse_recipe
from winoprune.training.sensitivity import ScanSpec, SensitivityScan
from winoprune.winograd.layers import WinogradConv2d

RECIPE = {
    "name": "s",
    "model": {"name": "digits-cnn", "width": 0.5},
    "data": {"name": "digits"},
    "device": "cpu",
    "seed": 3,
    "pretrain": {"epochs": 1, "optimizer": {"lr": 0.05}},
    "method": "native-winograd",
    "stages": [{"type": "native-winograd", "target": 0.5, "epochs": 1, "optimizer": {"lr": 0.01}}],
}


@pytest.fixture(scope="module")
def scan():
    return SensitivityScan(
        parse_recipe(RECIPE),
        ScanSpec(method="winograd-direct", grid=(0.0, 0.3, 0.6, 0.9), val_size=200),
    )


def test_pruning_one_layer_leaves_the_others_untouched_and_reaches_the_target(scan):
    base = {k: v.clone() for k, v in scan.base_state.items()}
    names = [info.name for info in scan.layers]
    assert len(names) >= 3
    for layer in names:
        for index, target in enumerate(scan.spec.grid):
            point = scan.point(layer, index)
            state = scan.model.state_dict()
            for key, value in state.items():
                if not key.startswith(layer + "."):
                    assert torch.equal(value, base[key]), (layer, key)
            q = scan.model.get_submodule(layer).weight.detach()
            assert isinstance(scan.model.get_submodule(layer), WinogradConv2d)
            zeros = float((q == 0).sum()) / q.numel()
            assert point.sparsity == pytest.approx(zeros, abs=1e-6)
            assert abs(zeros - target) <= 1.0 / q[0, 0].numel() / q.shape[1] + 0.02
            # the Winograd-domain multiplications follow the zeros of Q
            info = next(i for i in scan.layers if i.name == layer)
            assert point.mult_saved + point.multiplications == info.mult_dense
            assert point.multiplications == pytest.approx(info.mult_dense * (1 - zeros), rel=1e-6)


def test_a_point_depends_only_on_layer_and_index(scan):
    first = scan.point(scan.layers[1].name, 2)
    scan.point(scan.layers[0].name, 3)
    again = scan.point(scan.layers[1].name, 2)
    assert first == again
    assert scan.point(scan.layers[0].name, 0).accuracy == pytest.approx(scan.baseline()["accuracy"])


def test_the_validation_subset_comes_from_the_training_data(scan):
    train, test, _ = build_datasets({"name": "digits"}, seed=3)
    assert len(scan.val) == 200 and len(scan.retrain) == len(train) - 200
    rows = {tuple(x.flatten().tolist()) for x in train.images}
    test_rows = {tuple(x.flatten().tolist()) for x in test.images}
    val_rows = [tuple(x.flatten().tolist()) for x in scan.val.images]
    assert all(r in rows for r in val_rows)
    assert sum(r in test_rows and r not in rows for r in val_rows) == 0
    assert scan.val.augment is None


def test_scan_starts_from_a_checkpoint_and_spatial_structured_keeps_spatial_layers(tmp_path):
    recipe = parse_recipe(RECIPE)
    model = build_model("digits-cnn", 0.5, 10)
    torch.manual_seed(11)
    for p in model.parameters():
        p.data.normal_()
    path = tmp_path / "weights.safetensors"
    save_file({f"model.{k}": v.contiguous() for k, v in model.state_dict().items()}, str(path))
    (tmp_path / "weights.json").write_text('{"top1": 0.5}')  # an info file, not a sidecar
    scan = SensitivityScan(
        recipe, ScanSpec(method="spatial-structured", grid=(0.0, 0.5), val_size=100), path
    )
    for key, value in model.state_dict().items():
        assert torch.equal(scan.base_state[key], value)
    layer = scan.layers[-1].name
    point = scan.point(layer, 1)
    assert isinstance(scan.model.get_submodule(layer), torch.nn.Conv2d)
    assert point.sparsity >= 0.45


def test_retraining_steps_keep_the_pruned_zeros(scan):
    spec = ScanSpec(method="native-winograd", grid=(0.0, 0.7), val_size=200, retrain_steps=3)
    retrained = SensitivityScan(parse_recipe(RECIPE), spec)
    layer = retrained.layers[1].name
    point = retrained.point(layer, 1)
    q = retrained.model.get_submodule(layer).weight.detach()
    assert float((q == 0).sum()) / q.numel() >= 0.69
    other = retrained.layers[0].name
    assert not torch.equal(
        retrained.model.state_dict()[other + ".weight"], retrained.base_state[other + ".weight"]
    )
    assert point.sparsity >= 0.69


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"method": "magic"}, "method"),
        ({"grid": (0.5, 0.2)}, "grid"),
        ({"grid": (1.0,)}, "grid"),
        ({"val_size": 0}, "val_size"),
        ({"retrain_lr": 0}, "retrain_lr"),
        ({"bogus": 1}, "bogus"),
    ],
)
def test_bad_scan_options_name_the_field(options, field):
    with pytest.raises(ValueError, match=field):
        ScanSpec.from_dict(options)
