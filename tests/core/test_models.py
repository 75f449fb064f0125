"""Model registry and architectures: shapes, layer structure, Winograd eligibility, training."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from winoprune.data import build_datasets
from winoprune.models import (
    MODELS,
    build_model,
    default_input_shape,
    first_conv_name,
    model_names,
    rescale_dropout,
)
from winoprune.winograd.layers import WinogradConv2d, convert_model, ineligibility


def convs(model: nn.Module) -> dict[str, nn.Conv2d]:
    return {n: m for n, m in model.named_modules() if isinstance(m, nn.Conv2d)}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_builds_and_maps_input_to_logits(name: str) -> None:
    model = build_model(name, width=0.25, num_classes=7).eval()
    shape = (3, 32, 32) if name.startswith("resnet18") else default_input_shape(name)
    assert model.input_shape == default_input_shape(name)
    with torch.no_grad():
        out = model(torch.randn(2, *shape))
    assert out.shape == (2, 7)
    assert torch.isfinite(out).all()
    first = next(n for n, m in model.named_modules() if isinstance(m, nn.Conv2d | WinogradConv2d))
    assert first_conv_name(model) == first


def test_registry_rejects_unknown_names_and_bad_arguments() -> None:
    with pytest.raises(ValueError, match=r"^model\.name: unknown model 'vgg99'.*vgg-nagadomi"):
        build_model("vgg99")
    with pytest.raises(ValueError, match=r"^model\.width"):
        build_model("digits-cnn", width=0)
    with pytest.raises(ValueError, match=r"^model\.num_classes"):
        build_model("digits-cnn", num_classes=0)
    assert model_names() == sorted(MODELS)


def test_vgg_nagadomi_layout_at_width_quarter() -> None:
    model = build_model("vgg-nagadomi", width=0.25)
    layers = convs(model)
    assert list(layers) == [f"features.conv{i}" for i in range(8)]
    assert [c.out_channels for c in layers.values()] == [16, 16, 32, 32, 64, 64, 64, 64]
    assert all(c.kernel_size == (3, 3) and c.stride == (1, 1) for c in layers.values())
    linears = [m for m in model.classifier if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [
        (64 * 4 * 4, 256),
        (256, 256),
        (256, 10),
    ]
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(bns) == 8


def test_vgg_nagadomi_full_width_fc_and_conv_init() -> None:
    torch.manual_seed(0)
    model = build_model("vgg-nagadomi")
    assert model.classifier.fc0.in_features == 4096
    assert model.classifier.fc0.out_features == 1024
    weights = torch.cat([c.weight.flatten() for c in convs(model).values()])
    assert weights.mean().abs() < 1e-3
    assert weights.std().item() == pytest.approx(0.05, rel=0.02)  # N(0, 0.05), ~2.3M samples


def test_convpool_layout_pooling_and_dropouts() -> None:
    model = build_model("convpool-cnn-c", width=0.5)
    layers = convs(model)
    kernels = [c.kernel_size[0] for c in layers.values()]
    assert kernels == [3] * 7 + [1, 1]
    assert [c.out_channels for c in layers.values()] == [48] * 3 + [96] * 4 + [96, 100]
    sizes = []
    model.features.conv6.register_forward_hook(lambda m, i, o: sizes.append(o.shape[-1]))
    model.eval()(torch.randn(1, 3, 32, 32))
    assert sizes == [8]  # two 3x3/2 pad-1 pools: 32 -> 16 -> 8, conv6 keeps 8 (pad 1)
    drops = {n: m.p for n, m in model.named_modules() if isinstance(m, nn.Dropout)}
    assert drops == {"features.drop_in": 0.2, "features.drop0": 0.5, "features.drop1": 0.5}


def test_rescale_dropout_follows_the_paper_and_never_compounds() -> None:
    model = build_model("convpool-cnn-c", width=0.25)
    for _ in range(2):
        rates = rescale_dropout(model, 0.4)
    assert rates["features.drop0"] == pytest.approx(0.5 * 0.6**0.75)
    assert rates["features.drop1"] == pytest.approx(0.5 * 0.6**0.75)
    assert rates["features.drop_in"] == pytest.approx(0.2 * 0.8**0.75)
    assert model.features.drop0.p == pytest.approx(0.5 * 0.6**0.75)
    rescale_dropout(model, 0.0, input_sparsity=0.0)
    assert model.features.drop0.p == 0.5
    with pytest.raises(ValueError, match=r"^sparsity"):
        rescale_dropout(model, 1.0)


def test_resnet18_maxpool_matches_torchvision_shapes_and_is_winograd_friendly() -> None:
    model = build_model("resnet18-maxpool")
    # same parameter count as torchvision's resnet18 (max-pools add none)
    assert sum(p.numel() for p in model.parameters()) == 11_689_512
    layers = convs(model)
    three = [n for n, c in layers.items() if c.kernel_size == (3, 3)]
    assert len(three) == 16
    assert all(ineligibility(layers[n]) is None for n in three)
    assert layers["conv1"].kernel_size == (7, 7) and layers["conv1"].stride == (2, 2)
    downsample = [c for n, c in layers.items() if "downsample" in n]
    assert len(downsample) == 3
    assert all(c.kernel_size == (1, 1) and c.stride == (2, 2) for c in downsample)
    assert list(layers).index("layer2.0.conv1") < list(layers).index("layer2.0.downsample.0")


@pytest.mark.parametrize(("h", "w"), [(64, 64), (33, 45)])
def test_resnet18_pool_and_shortcut_agree_on_any_size(h: int, w: int) -> None:
    model = build_model("resnet18-maxpool", width=0.125, num_classes=5).eval()
    sizes = []
    model.layer2.register_forward_hook(lambda m, i, o: sizes.append(tuple(o.shape[-2:])))
    with torch.no_grad():
        assert model(torch.randn(1, 3, h, w)).shape == (1, 5)
    stem = ((h + 1) // 2 + 1) // 2, ((w + 1) // 2 + 1) // 2  # conv1 /2 then maxpool /2 (ceil)
    assert sizes == [((stem[0] + 1) // 2, (stem[1] + 1) // 2)]


@pytest.mark.parametrize(
    ("name", "eligible"),
    [
        ("vgg-nagadomi", 8),
        ("convpool-cnn-c", 7),
        ("resnet18-maxpool", 16),
        ("resnet18", 13),  # torchvision's: its 3 stride-2 3x3 convs need DWM
        ("digits-cnn", 4),
    ],
)
def test_convert_model_finds_the_prunable_3x3_convs(name: str, eligible: int) -> None:
    model = build_model(name, width=0.125)
    report = convert_model(model, m=2)
    assert len(report.converted) == eligible


def test_digits_cnn_trains_above_90_percent_in_seconds() -> None:
    torch.manual_seed(0)
    train, test, info = build_datasets(name="digits")
    model = build_model("digits-cnn", num_classes=info.num_classes)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    for epoch in range(4):
        model.train()
        for x, y in train.batches(64, shuffle=True, generator=torch.Generator().manual_seed(epoch)):
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        correct = sum(int((model(x).argmax(1) == y).sum()) for x, y in test.batches(360))
    assert correct / len(test) > 0.9


def torchvision_resnet18_keys() -> list[str]:
    """torchvision's resnet18 state-dict keys, written out from its architecture."""

    def bn(prefix: str) -> list[str]:
        names = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
        return [f"{prefix}.{n}" for n in names]

    keys = ["conv1.weight", *bn("bn1")]
    for layer in range(1, 5):
        for block in range(2):
            p = f"layer{layer}.{block}"
            keys += [f"{p}.conv1.weight", *bn(f"{p}.bn1"), f"{p}.conv2.weight", *bn(f"{p}.bn2")]
            if layer > 1 and block == 0:
                keys += [f"{p}.downsample.0.weight", *bn(f"{p}.downsample.1")]
    return [*keys, "fc.weight", "fc.bias"]


def test_resnet18_has_torchvisions_layout_and_state_dict_names() -> None:
    model = build_model("resnet18")
    assert list(model.state_dict()) == torchvision_resnet18_keys()
    assert sum(p.numel() for p in model.parameters()) == 11_689_512
    layers = convs(model)
    assert layers["conv1"].kernel_size == (7, 7) and layers["conv1"].stride == (2, 2)
    strided = [n for n, c in layers.items() if c.kernel_size == (3, 3) and c.stride == (2, 2)]
    assert strided == ["layer2.0.conv1", "layer3.0.conv1", "layer4.0.conv1"]
    assert isinstance(model.maxpool, nn.MaxPool2d)


def test_resnet18_converts_every_conv_with_dwm_and_keeps_its_outputs() -> None:
    torch.manual_seed(0)
    model = build_model("resnet18", width=0.125, num_classes=4).double().eval()
    x = torch.randn(2, 3, 35, 32, dtype=torch.float64)
    with torch.no_grad():
        expected = model(x)
    report = convert_model(model, m=4, dwm=True)
    assert len(report.converted) == 20 and not report.skipped
    assert not any(isinstance(m, nn.Conv2d) for m in model.modules())
    with torch.no_grad():
        torch.testing.assert_close(model(x), expected, atol=1e-10, rtol=1e-10)
