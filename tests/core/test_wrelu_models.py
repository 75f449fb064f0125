"""Winograd-ReLU model variants (Liu et al. 2018): which ReLUs move into which layers, the first
layer setting, ResNet-18-var's structure, and the build options."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from winoprune.models import MODELS, build_model
from winoprune.models.resnet_var import MaxPoolSame, same_padding
from winoprune.pruning.metrics import output_sizes
from winoprune.winograd.functional import to_winograd
from winoprune.winograd.relu import WinogradReLUConv2d

WRELU = {
    "vgg-nagadomi-wrelu": ("vgg-nagadomi", 8),
    "convpool-cnn-c-wrelu": ("convpool-cnn-c", 7),
    "digits-cnn-wrelu": ("digits-cnn", 4),
    "resnet18-var-wrelu": (None, 16),
}


def wrelu_layers(model: nn.Module) -> dict[str, WinogradReLUConv2d]:
    return {n: m for n, m in model.named_modules() if isinstance(m, WinogradReLUConv2d)}


@pytest.mark.parametrize("name", sorted(WRELU))
@pytest.mark.parametrize("tile", ["F(2,3)", "F(4,3)"])
def test_variants_build_run_and_hold_their_winograd_relu_layers(name, tile):
    base, count = WRELU[name]
    model = build_model(name, width=0.125, num_classes=5, tile=tile).eval()
    assert MODELS[name].winograd_relu
    layers = wrelu_layers(model)
    assert len(layers) == count
    assert all(layer.transform.name == tile for layer in layers.values())
    shape = (3, 64, 64) if name.startswith("resnet") else model.input_shape
    with torch.no_grad():
        out = model(torch.randn(2, *shape))
    assert out.shape == (2, 5) and torch.isfinite(out).all()
    if base is not None:  # the same module names as the base model, minus removed ReLUs
        base_names = {n for n, _ in build_model(base, width=0.125).named_modules()}
        assert {n for n, _ in model.named_modules()} <= base_names


@pytest.mark.parametrize("name", ["vgg-nagadomi-wrelu", "convpool-cnn-c-wrelu", "digits-cnn-wrelu"])
def test_the_relu_in_front_of_each_winograd_layer_moves_into_it(name):
    base_name = WRELU[name][0]
    base = build_model(base_name, width=0.25)
    model = build_model(name, width=0.25)
    children = list(model.features.named_children())
    base_relus = {n for n, m in base.features.named_children() if isinstance(m, nn.ReLU)}
    kept = {n for n, m in children if isinstance(m, nn.ReLU)}
    removed = base_relus - kept
    # one ReLU removed per Winograd-ReLU layer after the first, none added
    assert kept <= base_relus and len(removed) == len(wrelu_layers(model)) - 1
    last_conv = None
    for child_name, module in children:
        if isinstance(module, WinogradReLUConv2d):
            expected = "identity" if last_conv is None else "relu"
            assert module.activation == expected, child_name
            last_conv = child_name
        elif isinstance(module, nn.Conv2d):  # a 1x1 conv keeps the spatial ReLU before it
            names = [c for c, _ in children]
            assert names[names.index(child_name) - 1] in kept
            last_conv = child_name
    # the head's ReLU (after the last conv's BN) stays
    assert any(isinstance(m, nn.ReLU) for n, m in children[-3:])


def test_input_layer_setting_decides_how_the_image_is_seen():
    relu = build_model("vgg-nagadomi-wrelu", 0.25, input_layer="winograd-relu")
    assert relu.features.conv0.activation == "relu"
    spatial = build_model("vgg-nagadomi-wrelu", 0.25, input_layer="spatial")
    assert type(spatial.features.conv0) is nn.Conv2d
    assert spatial.features.conv1.activation == "relu"
    assert "relu0" not in dict(spatial.features.named_children())
    assert len(wrelu_layers(spatial)) == 7


def test_spatial_q_init_is_the_base_models_weight_in_the_winograd_domain():
    torch.manual_seed(0)
    base = build_model("digits-cnn", 1.0)
    torch.manual_seed(0)
    model = build_model("digits-cnn-wrelu", 1.0, q_init="spatial")
    for name, layer in wrelu_layers(model).items():
        weight = base.get_submodule(name).weight.detach().double()
        want = to_winograd(weight, layer.transform).float()
        assert torch.allclose(layer.weight, want, atol=1e-6)
    liu = build_model("digits-cnn-wrelu", 1.0)  # variance scaling: not in G's range
    with pytest.raises(ValueError, match="weight: Q is not in the range"):
        liu.features.conv0.to_conv2d()


def test_build_options_are_checked():
    with pytest.raises(ValueError, match=r"model\.tile: not an option of model 'vgg-nagadomi'"):
        build_model("vgg-nagadomi", 0.25, tile="F(2,3)")
    with pytest.raises(ValueError, match=r"model\.input_layer: not an option.*resnet18-var"):
        build_model("resnet18-var-wrelu", 0.125, input_layer="spatial")
    with pytest.raises(ValueError, match=r"model\.input_layer: must be one of"):
        build_model("vgg-nagadomi-wrelu", 0.25, input_layer="pixels")
    with pytest.raises(ValueError, match=r"tile: Winograd-ReLU models have 3x3 kernels"):
        build_model("vgg-nagadomi-wrelu", 0.25, tile="F(4,5)")
    assert build_model("vgg-nagadomi", 0.25, tile=None) is not None  # None options are dropped


def test_resnet18_var_has_liu_et_als_structure_and_sizes():
    model = build_model("resnet18-var-wrelu", width=0.0625).eval()
    sizes = output_sizes(model, (3, 224, 224))
    assert sizes["conv1"] == (112, 112)
    assert sizes["layer1.0.conv1"] == (56, 56)
    assert sizes["layer2.1.conv2"] == (28, 28)
    assert sizes["layer3.0.conv1"] == sizes["layer4.1.conv2"] == (14, 14)  # no pool4
    spatial = {n for n, m in model.named_modules() if type(m) is nn.Conv2d}
    assert spatial == {"conv1"} | {
        f"layer{i}.0.downsample.{2 if i == 1 else 1}" for i in range(1, 5)
    }
    assert isinstance(model.layer1[0].downsample[0], nn.BatchNorm2d)  # BN + ReLU: no stem BN
    assert isinstance(model.layer2[0].downsample[0], nn.ReLU)
    assert model.dropout.p == pytest.approx(0.15)
    assert not any(isinstance(m, nn.ReLU) for m in model.layer1[1].modules())


def test_resnet18_var_block_output_is_relu_shortcut_plus_branch():
    model = build_model("resnet18-var-wrelu", width=0.0625).eval()
    block = model.layer2[1]
    x = torch.randn(2, block.bn0.num_features, 9, 9)
    with torch.no_grad():
        branch = block.bn2(block.conv2(block.bn1(block.conv1(block.bn0(x)))))
        assert torch.allclose(block(x), F.relu(x) + branch, atol=1e-6)
        nn.init.zeros_(block.bn2.weight)
        nn.init.zeros_(block.bn2.bias)
        assert torch.equal(block(x), F.relu(x))


@pytest.mark.parametrize("size", [7, 8, 112, 113])
def test_max_pool_same_pads_as_tensorflow(size):
    """TF 'SAME': output ceil(n / 2), padding (total // 2, rest) that never wins the max."""
    before, after = same_padding(size, 3, 2)
    assert before + after == max((-(-size // 2) - 1) * 2 + 3 - size, 0)
    x = -torch.rand(1, 2, size, size) - 1  # all negative: a zero pad would win
    out = MaxPoolSame()(x)
    assert out.shape[-1] == -(-size // 2)
    for i in range(out.shape[-1]):
        rows = slice(max(2 * i - before, 0), min(2 * i - before + 3, size))
        want = x[0, :, rows, rows].amax(dim=(-1, -2))
        assert torch.equal(out[0, :, i, i], want)
