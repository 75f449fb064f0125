"""WinogradConv2d and convert_model: equivalence with nn.Conv2d, round trips and the report."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from winoprune.winograd.layers import WinogradConv2d, convert_model, ineligibility
from winoprune.winograd.transforms import cook_toom


def _conv(c=3, k=4, r=3, bias=True, **kwargs):
    torch.manual_seed(0)
    return nn.Conv2d(c, k, r, bias=bias, dtype=torch.float64, **kwargs)


@pytest.mark.parametrize("m", [2, 4, 6])
@pytest.mark.parametrize("padding", [0, 1, "same"])
@pytest.mark.parametrize("bias", [False, True])
def test_from_conv2d_forward_equals_the_conv(m, padding, bias):
    conv = _conv(bias=bias, padding=padding)
    layer = WinogradConv2d.from_conv2d(conv, m=m)
    assert layer.weight.shape == (4, 3, m + 2, m + 2)
    x = torch.randn(2, 3, 7, 9, dtype=torch.float64)
    assert torch.allclose(layer(x), conv(x), atol=1e-11)


def test_from_conv2d_float32_and_5x5():
    conv = nn.Conv2d(3, 2, 5, padding=2)
    layer = WinogradConv2d.from_conv2d(conv, m=2)
    assert layer.transform.name == "F(2,5)" and layer.weight.dtype == torch.float32
    x = torch.randn(1, 3, 10, 10)
    assert torch.allclose(layer(x), conv(x), atol=1e-4)


def test_gradients_reach_the_winograd_weight_bias_and_input():
    layer = WinogradConv2d(3, 5, cook_toom(4, 3))
    x = torch.randn(2, 3, 8, 8, requires_grad=True)
    layer(x).square().sum().backward()
    assert layer.weight.grad is not None and layer.weight.grad.shape == (5, 3, 6, 6)
    assert layer.bias is not None and layer.bias.grad is not None and x.grad is not None


def test_to_conv2d_round_trips():
    conv = _conv(padding=1)
    back = WinogradConv2d.from_conv2d(conv, m=4).to_conv2d()
    assert back.padding == (1, 1) and back.kernel_size == (3, 3)
    assert torch.allclose(back.weight, conv.weight, atol=1e-12)
    assert torch.allclose(back.bias, conv.bias)


def test_to_conv2d_refuses_q_outside_the_range_of_the_transform():
    layer = WinogradConv2d.from_conv2d(_conv(padding=1), m=4)
    with torch.no_grad():
        layer.weight[:, :, 1:3, 1:3] = 0  # Winograd-domain pruning leaves the range of G . G^T
    with pytest.raises(ValueError, match=r"weight: Q is not in the range of F\(4,3\)"):
        layer.to_conv2d()


def test_from_conv2d_rejects_ineligible_convs():
    with pytest.raises(ValueError, match=r"conv: cannot convert .* stride \(2, 2\) is not 1"):
        WinogradConv2d.from_conv2d(_conv(stride=2))
    with pytest.raises(ValueError, match=r"transform: F\(4,3\) does not fit a 5x5 kernel"):
        WinogradConv2d.from_conv2d(_conv(r=5), transform=cook_toom(4, 3))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"in_channels": 0}, "in_channels: must be an integer >= 1"),
        ({"out_channels": 2.5}, "out_channels: must be an integer >= 1"),
        ({"padding": -1}, "padding: must be an integer >= 0"),
    ],
)
def test_constructor_errors_name_the_field(kwargs, message):
    args = {"in_channels": 2, "out_channels": 3, "transform": cook_toom(2, 3)} | kwargs
    with pytest.raises(ValueError, match=message):
        WinogradConv2d(**args)


class _Zoo(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),  # features.0: converted
            nn.ReLU(),
            nn.Conv2d(8, 8, 3, padding=1, stride=2),  # features.2: stride
            nn.Conv2d(8, 8, 3, padding=1, groups=2),  # features.3: groups
            nn.Conv2d(8, 8, 3, padding=2, dilation=2),  # features.4: dilation
            nn.Conv2d(8, 8, 1),  # features.5: 1x1
            nn.Conv2d(8, 8, 5, padding=2),  # features.6: 5x5
            nn.Conv2d(8, 8, 3, padding=1),  # features.7: converted
        )
        self.head = nn.Conv2d(8, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def test_convert_model_reports_what_it_converted_and_why_it_skipped():
    model = _Zoo().double()
    x = torch.randn(2, 3, 12, 12, dtype=torch.float64)
    ref = model(x)
    report = convert_model(model, m=4)
    assert report.converted == ["features.0", "features.7", "head"]
    assert report.skipped == {
        "features.2": "stride (2, 2) is not 1",
        "features.3": "groups=2 is not 1",
        "features.4": "dilation (2, 2) is not 1",
        "features.5": "kernel 1x1 is not one of (3,)",
        "features.6": "kernel 5x5 is not one of (3,)",
    }
    assert isinstance(model.head, WinogradConv2d) and isinstance(model.features[2], nn.Conv2d)
    assert torch.allclose(model(x), ref, atol=1e-10)
    assert "features.2: stride" in str(report)


def test_convert_model_include_exclude_and_kernel_sizes():
    model = _Zoo()
    report = convert_model(model, m=2, include=["features.*"], exclude=["*.7"], kernel_sizes=(3, 5))
    assert report.converted == ["features.0", "features.6"]
    assert report.skipped["head"] == "not matched by include"
    assert report.skipped["features.7"] == "matched by exclude"
    assert model.features[6].transform.name == "F(2,5)"


def test_ineligibility_of_other_modules_and_uneven_padding():
    assert ineligibility(nn.Linear(2, 2)) == "Linear is not nn.Conv2d"
    assert ineligibility(nn.Conv2d(2, 2, 3, padding=(1, 0))) == "padding (1, 0) is not symmetric"
    assert ineligibility(nn.Conv2d(2, 2, 3, padding=1, padding_mode="reflect")) is not None
    assert ineligibility(nn.Conv2d(2, 2, 3, padding=1)) is None
