"""Multiplication reduction versus direct convolution, per layer and overall, on layers whose
counts are worked out by hand: direct = K C r^2 Ho Wo, sparse Winograd = nnz(Q) * tiles."""

from __future__ import annotations

from dataclasses import asdict

import pytest
import torch
from torch import nn

from winoprune.pruning.metrics import layer_stats, mult_reduction, summary
from winoprune.winograd.functional import to_winograd
from winoprune.winograd.layers import WinogradConv2d
from winoprune.winograd.transforms import standard_transform


class Net(nn.Module):
    """3x3 conv (C=2 -> K=3, pad 1) then a 1x1 conv (3 -> 4): a 7x7 input keeps 7x7 outputs."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, padding=1, bias=False)
        self.point = nn.Conv2d(3, 4, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.point(self.conv(x))


def pruned_net() -> Net:
    """Kernels (k, c) = (0, 0) and (2, 1) zeroed whole, and the corner W[1, 0, 0, 0] zeroed."""
    torch.manual_seed(0)
    net = Net()
    with torch.no_grad():
        net.conv.weight[0, 0] = 0
        net.conv.weight[2, 1] = 0
        net.conv.weight[1, 0, 0, 0] = 0
    return net


@pytest.mark.parametrize("tile", ["F(2,3)", "F(4,3)"])
def test_layer_and_overall_reduction_follow_the_counts(tile: str) -> None:
    tf = standard_transform(tile)
    net = pruned_net()
    # by hand: Ho = Wo = 7; tiles = ceil(7 / m)^2 (16 for m = 2, 4 for m = 4)
    tiles = (-(-7 // tf.m)) ** 2
    direct = 3 * 2 * 9 * 7 * 7
    q = to_winograd(net.conv.weight.detach().double(), tf)
    # whole zero kernels give a^2 zeros each; the corner W00 zeroes exactly Q[0, 0]
    assert int((q == 0).sum()) == 2 * tf.alpha**2 + 1
    sparse = int((q != 0).sum()) * tiles
    rows = {(r.layer, r.domain): r for r in layer_stats(net, (2, 7, 7), tf)}
    for domain in ("spatial", "winograd"):
        row = rows[("conv", domain)]
        assert (row.mult_direct, row.mult_winograd_sparse) == (direct, sparse)
        assert row.mult_reduction == pytest.approx(direct / sparse)
    assert rows[("point", "spatial")].mult_reduction is None  # no Winograd form
    point = 4 * 3 * 7 * 7
    totals = summary(rows.values(), ["conv"])
    # the 1x1 conv runs direct: its cost is in both totals
    assert totals.mult_reduction == pytest.approx((direct + point) / (sparse + point))
    assert asdict(totals)["mult_reduction"] == totals.mult_reduction
    assert asdict(rows[("conv", "winograd")])["mult_reduction"] == pytest.approx(direct / sparse)


def test_a_dense_winograd_layer_saves_the_tiles_factor() -> None:
    """Unpruned F(4,3) on 8x8: 36 products per 16 outputs against 9 * 16: exactly 4x."""
    layer = WinogradConv2d(2, 2, standard_transform("F(4,3)"))
    (row,) = layer_stats(nn.Sequential(layer), (2, 8, 8))
    assert row.domain == "winograd" and row.mult_reduction == pytest.approx(4.0)
    with torch.no_grad():
        layer.weight[:, :, 1:, :] = 0  # 6 of 36 positions left
    (row,) = layer_stats(nn.Sequential(layer), (2, 8, 8))
    assert row.mult_reduction == pytest.approx(24.0)


def test_no_winograd_form_or_nothing_left_has_no_reduction() -> None:
    assert mult_reduction(100, None) is None
    assert mult_reduction(100, 0) is None
    assert mult_reduction(90, 40) == pytest.approx(2.25)
