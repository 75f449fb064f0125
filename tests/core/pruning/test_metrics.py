"""Per-layer statistics, multiplications counted by hand, and the overall sparsity formula."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from winoprune.pruning.metrics import layer_stats, output_sizes, position_zero_map, summary
from winoprune.winograd.layers import convert_model
from winoprune.winograd.transforms import standard_transform

F43 = standard_transform("F(4,3)")


def small_net() -> nn.Sequential:
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1),  # 0: 10x10 -> 10x10
        nn.ReLU(),
        nn.Conv2d(4, 6, 3, stride=2, padding=1),  # 2: 10x10 -> 5x5, no Winograd form
    )
    with torch.no_grad():
        net[0].weight[0, 0] = 0  # one whole kernel: 36 Winograd zeros
        net[0].weight[1, 1, 0, 0] = 0  # one corner: 1 Winograd zero
    return net


def test_multiplications_of_a_small_layer_by_hand():
    rows = {(r.layer, r.domain): r for r in layer_stats(small_net(), (2, 10, 10), F43)}
    spatial, winograd = rows[("0", "spatial")], rows[("0", "winograd")]
    # direct: K*C*r*r*Ho*Wo = 4*2*9*10*10; tiles = ceil(10/4)^2 = 9
    assert spatial.multiplications == spatial.mult_direct == 7200
    assert winograd.mult_winograd_dense == 4 * 2 * 36 * 9 == 2592
    assert (winograd.numel, winograd.nnz) == (288, 288 - 37)
    assert winograd.multiplications == winograd.mult_winograd_sparse == 251 * 9
    assert (spatial.numel, spatial.nnz) == (72, 72 - 10)
    assert spatial.sparsity == pytest.approx(10 / 72) and winograd.sparsity == pytest.approx(
        37 / 288
    )
    strided = rows[("2", "spatial")]
    assert strided.mult_direct == 6 * 4 * 9 * 5 * 5
    assert strided.mult_winograd_dense is None and ("2", "winograd") not in rows


def test_winograd_layers_report_the_winograd_domain_only():
    net = small_net()
    before = [r for r in layer_stats(net, (2, 10, 10), F43) if r.layer == "0"]
    convert_model(net, m=4)
    after = [r for r in layer_stats(net, (2, 10, 10)) if r.layer == "0"]
    assert [r.domain for r in after] == ["winograd"]
    assert after[0] == before[1]


def test_summary_overall_sparsity_is_zeros_over_entries_not_a_mean():
    torch.manual_seed(1)
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.Conv2d(2, 8, 3, padding=1))
    with torch.no_grad():
        net[0].weight.zero_()  # 72 of 72 Winograd entries zero
        net[1].weight[:4] = 0  # 288 of 576
    rows = layer_stats(net, (1, 8, 8), F43)
    overall = summary(rows, ["0", "1"])
    assert (overall.winograd_zeros, overall.winograd_entries) == (72 + 288, 72 + 576)
    assert overall.winograd_sparsity == pytest.approx(360 / 648)  # the mean would be 0.75
    tiles = 2 * 2
    assert overall.mult_direct == (2 * 1 + 8 * 2) * 9 * 64
    assert overall.mult_winograd_dense == (2 * 1 + 8 * 2) * 36 * tiles
    assert overall.mult_winograd_sparse == (0 + 288) * tiles
    assert summary(rows, ["1"]).winograd_sparsity == pytest.approx(0.5)
    with pytest.raises(ValueError, match=r"^counted_layers:"):
        summary(rows, ["nope"])


def test_position_zero_map_in_both_domains():
    net = small_net()
    with torch.no_grad():
        net[0].weight[:, :, 0, 0] = 0  # corner W00 -> position (0, 0) of every kernel
    zero_map = position_zero_map(net[0], F43)
    assert zero_map.shape == (6, 6)
    assert zero_map[0, 0] == 1.0
    assert zero_map[3, 3] == pytest.approx(1 / 8)  # the one whole kernel of eight
    convert_model(net, m=4)
    assert torch.equal(position_zero_map(net[0]), zero_map)
    with pytest.raises(TypeError, match=r"^module:"):
        position_zero_map(nn.ReLU())


def test_output_sizes_leave_the_training_mode_alone():
    net = small_net().train()
    assert output_sizes(net, (2, 10, 10)) == {"0": (10, 10), "2": (5, 5)}
    assert net.training
