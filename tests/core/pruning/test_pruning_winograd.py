"""Stage 2, Winograd direct pruning with the importance factor matrix (paper-spec 3, 8.5)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from winoprune.pruning import LayerPolicy, WinogradGradScaler, prune_model
from winoprune.pruning.baselines import prune_native_winograd
from winoprune.pruning.masks import winograd_masks
from winoprune.pruning.winograd import importance_scores, prune_winograd_direct
from winoprune.winograd.functional import to_winograd
from winoprune.winograd.importance import importance_factors
from winoprune.winograd.layers import convert_model
from winoprune.winograd.transforms import standard_transform

F43 = standard_transform("F(4,3)")
F_HAT = importance_factors(F43)


def winograd_weight(seed: int, k: int = 32, c: int = 32) -> torch.Tensor:
    """Q = G W G^T of a random spatial weight (float32), as a converted layer holds."""
    w = torch.randn(k, c, 3, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return to_winograd(w, F43).float()


@pytest.mark.parametrize("target", [0.2, 0.5, 0.74])
def test_mask_is_scaled_magnitude_below_threshold_and_hits_target(target):
    q = winograd_weight(0)
    result = prune_winograd_direct(q, F43, target)
    scores = q.double().abs() * F_HAT
    assert (scores[result.mask] < result.threshold).all()
    assert (scores[~result.mask] >= result.threshold).all()
    assert abs(result.mask.double().mean() - target) < 1e-3
    assert result.sparsity == pytest.approx(float(result.mask.double().mean()))


def test_importance_keeps_high_f_hat_positions_at_smaller_magnitudes():
    q = torch.randn(32, 32, 6, 6, generator=torch.Generator().manual_seed(1))
    mask = prune_winograd_direct(q, F43, 0.5).mask
    kept = q.abs().masked_fill(mask, float("inf"))
    min_kept_centre = kept[:, :, 3, 3].min()  # F_hat = 20.2
    min_kept_corner = kept[:, :, 0, 0].min()  # F_hat = 1
    assert min_kept_centre < min_kept_corner / 5
    # native magnitude pruning treats the positions alike
    native = prune_native_winograd(q, 0.5).mask
    native_kept = q.abs().masked_fill(native, float("inf"))
    assert native_kept[:, :, 3, 3].min() >= native_kept[:, :, 0, 0].min() * 0.9


def test_previous_masks_stay_pruned_even_when_revived():
    q = winograd_weight(2)
    first = prune_winograd_direct(q, F43, 0.4)
    revived = q.masked_fill(first.mask, 5.0)  # large values where the first mask pruned
    second = prune_winograd_direct(revived, F43, 0.6, previous=first.mask)
    assert (second.mask | ~first.mask).all()
    assert abs(second.mask.double().mean() - 0.6) < 1e-3


def tiny_winograd_net() -> nn.Sequential:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1))
    convert_model(net, m=4)
    return net


def backward(net: nn.Module) -> None:
    x = torch.randn(2, 2, 8, 8, generator=torch.Generator().manual_seed(3))
    net(x).square().mean().backward()


def test_grad_scaler_divides_by_f_hat_power_once_per_step():
    net = tiny_winograd_net()
    scaler = WinogradGradScaler(net, alpha=1.5)
    backward(net)
    raw = net[2].weight.grad.clone()
    scaler.apply()
    expected = raw / F_HAT.float() ** 1.5
    torch.testing.assert_close(net[2].weight.grad, expected, rtol=1e-6, atol=0)
    with pytest.raises(RuntimeError, match="already scaled"):
        scaler.apply()
    torch.testing.assert_close(net[2].weight.grad, expected, rtol=1e-6, atol=0)
    net.zero_grad()
    backward(net)
    scaler.apply()
    assert scaler.calls == 2


def test_grad_scaler_scales_every_layer_after_one_without_a_gradient() -> None:
    net = tiny_winograd_net()
    scaler = WinogradGradScaler(net, alpha=1.5)
    first, second = net.get_parameter("0.weight"), net.get_parameter("2.weight")
    first.requires_grad_(False)  # the first Winograd layer gets no gradient
    backward(net)
    assert first.grad is None and second.grad is not None
    raw = second.grad.clone()
    scaler.apply()
    torch.testing.assert_close(second.grad, raw / F_HAT.float() ** 1.5, rtol=1e-6, atol=0)


def test_importance_scores_refuse_factors_of_another_tile() -> None:
    q = winograd_weight(0, k=2, c=2)  # F(4,3): 6x6
    f23 = importance_factors(standard_transform("F(2,3)"))  # 4x4
    with pytest.raises(ValueError, match=r"^weight: expected Winograd weights \(K, C, 4, 4\)"):
        importance_scores(q, f23)


def test_sgd_step_uses_scaled_gradient_and_unscaled_weight_decay():
    net = tiny_winograd_net()
    scaler = WinogradGradScaler(net, alpha=1.5)
    lr, decay = 0.1, 1e-2
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9, weight_decay=decay)
    before = net[0].weight.detach().clone()
    backward(net)
    raw = net[0].weight.grad.clone()
    scaler.apply()
    opt.step()
    # first SGD step: the momentum buffer is the gradient itself
    expected = before - lr * (raw / F_HAT.float() ** 1.5 + decay * before)
    torch.testing.assert_close(net[0].weight.detach(), expected, rtol=1e-5, atol=1e-7)


def test_grad_scaler_rejects_bad_settings():
    net = tiny_winograd_net()
    with pytest.raises(ValueError, match=r"^alpha:"):
        WinogradGradScaler(net, alpha=-1)
    with pytest.raises(ValueError, match=r"^layers:"):
        WinogradGradScaler(net, layers=["1"])
    assert set(WinogradGradScaler(net, layers=["2"]).layers) == {"2"}


def test_prune_model_spatial_then_winograd_keeps_masks_nested():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1))
    policy = LayerPolicy()
    spatial_masks, _ = prune_model(net, "spatial-structured", 0.4, policy, F43)
    convert_model(net, m=4)
    carried = winograd_masks(net, spatial_masks)
    masks, results = prune_model(net, "winograd-direct", 0.6, policy, masks=spatial_masks)
    for name in ("0.weight", "2.weight"):
        assert masks[name].shape == net.get_parameter(name).shape
        assert masks[name].shape[-2:] == (6, 6)
        assert (masks[name] | ~carried[name]).all()
        assert (net.get_parameter(name)[masks[name]] == 0).all()
    assert results["2"].target == 0.6 and abs(results["2"].sparsity - 0.6) < 1e-3
    assert results["0"].target == 0.2 and results["0"].spatial_sparsity is None
