"""Pruning DWM layers: per-piece groups whose zeros survive, importance factors, masks across
the conversion, sparsity over all pieces and multiplications per piece."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from winoprune.pruning import LayerPolicy, WinogradGradScaler, prune_model
from winoprune.pruning.dwm import (
    dwm_groups,
    dwm_winograd_mask,
    dwm_zero_fraction,
    piece_stats,
    prune_dwm_direct,
    prune_dwm_spatial_structured,
)
from winoprune.pruning.masks import winograd_masks
from winoprune.pruning.metrics import layer_stats, position_zero_map, summary
from winoprune.training.optim import WinogradPreconditioner
from winoprune.winograd.dwm import DWMConv2d, dwm_layout
from winoprune.winograd.layers import WinogradConv2d, convert_model
from winoprune.winograd.transforms import cook_toom


def _weight(k: int, s: int = 0) -> torch.Tensor:
    return torch.randn(6, 5, k, k, generator=torch.Generator().manual_seed(s))


@pytest.mark.parametrize(("k", "s"), [(3, 2), (7, 2), (5, 1), (1, 2)])
def test_a_position_is_zero_exactly_when_its_group_is(k: int, s: int) -> None:
    layout = dwm_layout((k, k), (s, s))
    groups = dwm_groups(layout)
    assert groups.position_group.shape == (layout.positions,)
    for index in range(layout.positions):
        members = groups.members[groups.position_group[index]]
        w = _weight(k)
        w[:, :, members] = 0.0
        assert torch.all(layout.to_winograd(w)[:, :, index] == 0)
        # one surviving tap of the group makes the position nonzero
        u, v = members.nonzero()[0]
        w[:, :, u, v] = 1.0
        assert torch.all(layout.to_winograd(w)[:, :, index] != 0)


@pytest.mark.parametrize("target", [0.2, 0.45, 0.7])
def test_spatial_structured_reaches_the_target_over_all_pieces(target: float) -> None:
    layout = dwm_layout((7, 7), (2, 2))
    w = _weight(7)
    result = prune_dwm_spatial_structured(w, layout, target)
    achieved = dwm_zero_fraction(w.masked_fill(result.mask, 0.0), layout)
    assert achieved == pytest.approx(result.sparsity) and achieved >= target - 1e-4
    # the zeros are the structural rule's
    structural = dwm_winograd_mask(result.mask, layout)
    q = layout.to_winograd(w.masked_fill(result.mask, 0.0))
    assert torch.equal(q == 0, structural)
    # nested: a higher target keeps every earlier zero
    more = prune_dwm_spatial_structured(w, layout, target + 0.1, previous=result.mask)
    assert torch.all(more.mask[result.mask])


def test_direct_pruning_uses_the_layers_importance_factors() -> None:
    layout = dwm_layout((3, 3), (2, 2))
    q = layout.to_winograd(_weight(3))
    result = prune_dwm_direct(q, layout, 0.5)
    scores = q.abs().double() * layout.importance_factors()
    assert result.sparsity == pytest.approx(0.5, abs=1e-3)
    assert scores[result.mask].max() < scores[~result.mask].min()


def _model() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 7, stride=2, padding=3, bias=False),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1, bias=False),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, stride=2, padding=1, bias=False),
        nn.ReLU(),
        nn.Conv2d(8, 8, 1, stride=2, bias=False),
    )


def test_policy_selects_dwm_layers_only_when_asked() -> None:
    model = _model()
    assert LayerPolicy().eligible_layers(model) == ["2"]
    assert LayerPolicy(dwm=True).eligible_layers(model) == ["0", "2", "4", "6"]


def test_both_paper_methods_on_a_model_with_dwm_layers() -> None:
    model, tf = _model(), cook_toom(4, 3)
    policy = LayerPolicy(dwm=True, first_layer="prune")
    x = torch.randn(2, 3, 20, 20)
    masks, results = prune_model(model, "spatial-structured", 0.4, policy, tf)
    assert set(results) == {"0", "2", "4", "6"}
    assert all(r.sparsity >= 0.4 - 1e-4 for r in results.values())
    with torch.no_grad():
        spatial_out = model(x)
    convert_model(model, m=4, transform=tf, dwm=True)
    assert isinstance(model[0], DWMConv2d) and isinstance(model[2], WinogradConv2d)
    masks = winograd_masks(model, masks)
    assert masks["0.weight"].shape == model[0].weight.shape
    # the structured zeros survived the conversion: same sparsity, same outputs
    for name in ("0", "4", "6"):
        layer = model.get_submodule(name)
        zeros = float((layer.weight == 0).double().mean())
        assert zeros == pytest.approx(results[name].sparsity)
        assert torch.equal(masks[f"{name}.weight"], layer.weight == 0)
    with torch.no_grad():
        torch.testing.assert_close(model(x), spatial_out, atol=1e-4, rtol=1e-4)
    masks, results = prune_model(model, "winograd-direct", 0.6, policy, tf, masks)
    # the 1x1 layer's F(2,1) piece holds each weight 4 times: its sparsity moves in steps of 4
    assert all(0.6 - 1e-4 <= r.sparsity < 0.6 + 4 / 256 for r in results.values())
    # gradient scaling reaches the DWM layers with their packed F_hat
    model(x).sum().backward()
    grad = model[0].weight.grad.clone()
    WinogradGradScaler(model).apply()
    f_hat = model[0].layout.importance_factors().float()
    torch.testing.assert_close(model[0].weight.grad, grad / f_hat**1.5)
    # native pruning takes the packed Q too
    prune_model(copy.deepcopy(model), "native-winograd", 0.7, policy, tf, masks)


def test_wrong_layer_types_are_refused() -> None:
    model = _model()
    convert_model(model, dwm=True)
    policy = LayerPolicy(dwm=True)
    with pytest.raises(TypeError, match=r"^model: layer '0' is DWMConv2d"):
        prune_model(model, "spatial-structured", 0.3, policy)


def test_metrics_count_every_piece() -> None:
    model, tf = _model(), cook_toom(4, 3)
    policy = LayerPolicy(dwm=True, first_layer="prune")
    prune_model(model, "spatial-structured", 0.5, policy, tf)
    spatial_rows = layer_stats(model, (3, 20, 20), tf, dwm=True)
    convert_model(model, m=4, transform=tf, dwm=True)
    rows = layer_stats(model, (3, 20, 20), tf, dwm=True)
    conv1 = next(r for r in rows if r.layer == "0")
    layout = model[0].layout
    ho = wo = 10  # (20 + 6 - 7) // 2 + 1
    tiles = 5 * 5  # 2x2 output tiles
    q = model[0].weight.detach()
    assert conv1.numel == 8 * 3 * layout.positions
    assert conv1.mult_direct == 8 * 3 * 49 * ho * wo
    assert conv1.mult_winograd_dense == 8 * 3 * 100 * tiles
    assert conv1.mult_winograd_sparse == int((q != 0).sum()) * tiles
    pieces = piece_stats(q, layout, ho, wo)
    assert len(pieces) == 9 and sum(p.mult_sparse for p in pieces) == conv1.mult_winograd_sparse
    for p, piece in zip(pieces, layout.pieces, strict=True):
        assert p.mult_dense == 8 * 3 * piece.tile[0] * piece.tile[1] * tiles
    # the spatial model's Winograd rows under DWM equal the converted model's
    by_name = {(r.layer, r.domain): r for r in spatial_rows}
    for row in rows:
        assert by_name[(row.layer, "winograd")].nnz == row.nnz
    total = summary(rows, ["0", "2", "4", "6"])
    assert total.winograd_entries == sum(r.numel for r in rows)
    assert position_zero_map(model[0]).shape == (1, layout.positions)


def test_resnet_conv1_multiplications_at_imagenet_size() -> None:
    # spec 2.5: conv1 (3 -> 64, 7x7/2, 224 -> 112) costs 60.2 M against 118.0 M direct
    layout = dwm_layout((7, 7), (2, 2))
    stats = piece_stats(torch.ones(64, 3, layout.positions), layout, 112, 112)
    assert sum(p.mult_dense for p in stats) == 64 * 3 * 100 * 56 * 56
    assert round(sum(p.mult_dense for p in stats) / 1e6, 1) == 60.2
    assert round(64 * 3 * 49 * 112 * 112 / 1e6, 1) == 118.0


def test_natural_step_on_a_dwm_layer_is_spatial_sgd() -> None:
    # precond-sgd: grad_Q <- P1 grad_Q P2 per piece moves Q exactly as SGD on W moves G1 W G2^T
    torch.manual_seed(0)
    conv = nn.Conv2d(2, 3, 7, stride=2, padding=3, bias=False).double()
    layer = DWMConv2d.from_conv2d(conv)
    x = torch.randn(2, 2, 11, 12, dtype=torch.float64)
    conv(x).square().sum().backward()
    layer(x).square().sum().backward()
    WinogradPreconditioner(nn.Sequential(layer)).apply()
    assert conv.weight.grad is not None and layer.weight.grad is not None
    expected = layer.layout.to_winograd(conv.weight.grad)
    torch.testing.assert_close(layer.weight.grad, expected, atol=1e-10, rtol=1e-10)
