"""Baselines: native Winograd pruning (|Q| only) and unstructured spatial magnitude pruning."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from winoprune.pruning import LayerPolicy, prune_model
from winoprune.pruning.baselines import prune_native_winograd, prune_spatial_unstructured
from winoprune.pruning.winograd import prune_winograd_direct
from winoprune.winograd.functional import to_winograd
from winoprune.winograd.layers import convert_model
from winoprune.winograd.transforms import standard_transform

F43 = standard_transform("F(4,3)")


def spatial_weight(seed: int) -> torch.Tensor:
    return torch.randn(32, 32, 3, 3, generator=torch.Generator().manual_seed(seed))


def winograd_fraction(w: torch.Tensor) -> float:
    return float((to_winograd(w, F43) == 0).double().mean())


def test_native_pruning_ranks_by_magnitude_only():
    q = to_winograd(spatial_weight(0).double(), F43).float()
    result = prune_native_winograd(q, 0.5)
    assert (q.abs()[result.mask] < result.threshold).all()
    assert (q.abs()[~result.mask] >= result.threshold).all()
    assert abs(result.mask.double().mean() - 0.5) < 1e-3
    # |Q| alone prunes the small-coefficient centre of the tile first, unlike |Q| * F_hat
    direct = prune_winograd_direct(q, F43, 0.5).mask
    assert result.mask[:, :, 3, 3].double().mean() > direct[:, :, 3, 3].double().mean() + 0.3


def test_unstructured_spatial_sparsity_fills_in_under_the_transform():
    w = spatial_weight(1)
    result = prune_spatial_unstructured(w, F43, 0.5, target_domain="spatial")
    assert abs(result.mask.double().mean() - 0.5) < 1e-3
    assert result.sparsity == pytest.approx(float(result.mask.double().mean()))
    assert (w.abs()[result.mask] < result.threshold).all()
    assert winograd_fraction(w.masked_fill(result.mask, 0)) < 0.2


def test_unstructured_with_a_winograd_target_needs_far_more_spatial_zeros():
    w = spatial_weight(2)
    result = prune_spatial_unstructured(w, F43, 0.3, target_domain="winograd")
    achieved = winograd_fraction(w.masked_fill(result.mask, 0))
    assert abs(achieved - 0.3) < 1e-3 and result.sparsity == pytest.approx(achieved)
    assert result.mask.double().mean() > 0.6


def test_unstructured_rejects_an_unknown_domain():
    with pytest.raises(ValueError, match=r"^target_domain:"):
        prune_spatial_unstructured(spatial_weight(3), F43, 0.5, target_domain="both")  # type: ignore[arg-type]


def test_prune_model_runs_both_baselines():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1))
    policy = LayerPolicy(first_layer="dense")
    _, spatial = prune_model(net, "spatial-unstructured", 0.5, policy, F43, target_domain="spatial")
    assert set(spatial) == {"2"}
    assert abs(spatial["2"].spatial_sparsity - 0.5) < 1e-2
    assert spatial["2"].sparsity < 0.25  # the Winograd sparsity that survives
    convert_model(net, m=4)
    masks, native = prune_model(net, "native-winograd", 0.6, policy)
    assert abs(native["2"].sparsity - 0.6) < 1e-3 and set(masks) == {"2.weight"}
