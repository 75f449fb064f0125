"""AdderNet's adder layer (Chen et al. 2020): forward against a naive float64 loop, gradcheck of
the exact mode, AdderNet's gradient rules and adaptive lr scaling against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from winoprune.winograd.adder import (
    AdderConv2d,
    adaptive_scale,
    adder_conv2d,
    adder_distance,
)


def naive_adder(x, w, stride, pad):
    """Y[n, t, h, w] = -sum |x_pad - W| by explicit loops, float64."""
    n, c, h, wd = x.shape
    k, _, kh, kw = w.shape
    xp = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    ho, wo = (h + 2 * pad - kh) // stride + 1, (wd + 2 * pad - kw) // stride + 1
    y = torch.zeros(n, k, ho, wo, dtype=torch.float64)
    for b in range(n):
        for t in range(k):
            for i in range(ho):
                for j in range(wo):
                    total = 0.0
                    for ch in range(c):
                        for u in range(kh):
                            for v in range(kw):
                                xv = float(xp[b, ch, i * stride + u, j * stride + v])
                                total += abs(xv - float(w[t, ch, u, v]))
                    y[b, t, i, j] = -total
    return y


@pytest.mark.parametrize(("stride", "pad", "kernel"), [(1, 1, 3), (2, 0, 3), (1, 0, 1)])
@pytest.mark.parametrize("grad_mode", ["addernet", "exact"])
def test_forward_matches_naive_loop(stride, pad, kernel, grad_mode):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, 6, 5, generator=gen, dtype=torch.float64)
    w = torch.randn(4, 3, kernel, kernel, generator=gen, dtype=torch.float64)
    got = adder_conv2d(x, w, stride, pad, grad_mode)
    torch.testing.assert_close(got, naive_adder(x, w, stride, pad), rtol=0, atol=1e-12)


def test_float32_layer_matches_naive_loop():
    torch.manual_seed(0)
    layer = AdderConv2d(2, 3, 3, padding=1)
    x = torch.randn(1, 2, 5, 5)
    want = naive_adder(x.double(), layer.weight.detach().double(), 1, 1)
    torch.testing.assert_close(layer(x).double(), want, rtol=1e-5, atol=1e-4)


def test_exact_mode_passes_gradcheck():
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(1, 2, 4, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 2, 3, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: adder_conv2d(a, b, 1, 1, "exact"), (x, w))


def test_addernet_rules_against_hand_computed_values():
    # one pixel pair, 1x1 kernel, two filters: Y[t, i] = -|x_i - w_t|
    x = torch.tensor([[[[2.0, 0.2]]]], dtype=torch.float64, requires_grad=True)
    w = torch.tensor([0.5, -1.0], dtype=torch.float64).view(2, 1, 1, 1).requires_grad_()
    y = adder_conv2d(x, w, grad_mode="addernet")
    torch.testing.assert_close(
        y.detach(), torch.tensor([[[[-1.5, -0.3]], [[-3.0, -1.2]]]], dtype=torch.float64)
    )
    dy = torch.tensor([[[[1.0, 2.0]], [[-1.0, 0.5]]]], dtype=torch.float64)
    y.backward(dy)
    # dW_t = sum_i dY[t, i] (x_i - w_t): 1 * 1.5 + 2 * (-0.3) = 0.9; -1 * 3.0 + 0.5 * 1.2 = -2.4
    torch.testing.assert_close(w.grad.flatten(), torch.tensor([0.9, -2.4], dtype=torch.float64))
    # dx_i = sum_t dY[t, i] clamp(w_t - x_i, -1, 1):
    # x_0: 1 * clamp(-1.5) + (-1) * clamp(-3.0) = -1 + 1 = 0
    # x_1: 2 * clamp(0.3) + 0.5 * clamp(-1.2) = 0.6 - 0.5 = 0.1
    torch.testing.assert_close(x.grad.flatten(), torch.tensor([0.0, 0.1], dtype=torch.float64))


def test_addernet_rules_differ_from_the_sign_gradient():
    x = torch.tensor([[[[2.0, 0.2]]]], dtype=torch.float64, requires_grad=True)
    w = torch.tensor([0.5], dtype=torch.float64).view(1, 1, 1, 1).requires_grad_()
    adder_conv2d(x, w, grad_mode="exact").sum().backward()
    # d(-|x - w|)/dw = sign(x - w): +1 (2.0 > 0.5) - 1 (0.2 < 0.5) = 0; full precision: 1.2
    torch.testing.assert_close(w.grad.flatten(), torch.tensor([0.0], dtype=torch.float64))
    w.grad = None
    adder_conv2d(x, w, grad_mode="addernet").sum().backward()
    torch.testing.assert_close(w.grad.flatten(), torch.tensor([1.2], dtype=torch.float64))


def test_batched_distance_rules_per_batch_and_exponent():
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(3, 5, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 2, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    dy = torch.randn(3, 5, 2, generator=gen, dtype=torch.float64)
    for p in (1.0, 1.5, 2.0):
        y = adder_distance(x, w, p, "addernet")
        want = -((x.unsqueeze(2) - w.unsqueeze(1)).abs() ** p).sum(-1)
        torch.testing.assert_close(y, want.detach())
        x.grad = w.grad = None
        y.backward(dy)
        diff = x.detach().unsqueeze(2) - w.detach().unsqueeze(1)  # (B, R, T, D)
        torch.testing.assert_close(w.grad, (dy.unsqueeze(-1) * diff).sum(1))
        torch.testing.assert_close(x.grad, (dy.unsqueeze(-1) * (-diff).clamp(-1, 1)).sum(2))


def test_adaptive_scale_hand_value():
    grad = torch.tensor([3.0, 4.0], dtype=torch.float64)
    # eta * sqrt(k) / ||g|| = 0.2 * sqrt(2) / 5
    want = grad * 0.2 * math.sqrt(2) / 5
    torch.testing.assert_close(adaptive_scale(grad, 0.2), want)
    torch.testing.assert_close(adaptive_scale(torch.zeros(3), 0.2), torch.zeros(3))


@pytest.mark.parametrize("eta", [0.2, 0.05])
def test_layer_weight_gradient_is_rescaled_to_eta_sqrt_k(eta):
    torch.manual_seed(4)
    scaled = AdderConv2d(3, 4, 3, padding=1, eta=eta)
    plain = AdderConv2d(3, 4, 3, padding=1, eta=None)
    plain.load_state_dict(scaled.state_dict())
    x = torch.randn(2, 3, 5, 5)
    target = torch.randn(2, 4, 5, 5)
    for layer in (scaled, plain):
        ((layer(x) - target) ** 2).mean().backward()
    k = scaled.weight.numel()
    assert scaled.weight.grad.norm().item() == pytest.approx(eta * math.sqrt(k), rel=1e-5)
    torch.testing.assert_close(
        scaled.weight.grad, plain.weight.grad / plain.weight.grad.norm() * eta * math.sqrt(k)
    )


def test_bad_settings_name_the_field():
    with pytest.raises(ValueError, match="grad_mode"):
        AdderConv2d(1, 1, 3, grad_mode="sign")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="eta"):
        AdderConv2d(1, 1, 3, eta=0.0)
    with pytest.raises(ValueError, match="p: must be in"):
        adder_distance(torch.zeros(1, 1, 1), torch.zeros(1, 1, 1), 0.5)
    with pytest.raises(ValueError, match="channels"):
        adder_conv2d(torch.zeros(1, 2, 4, 4), torch.zeros(1, 3, 3, 3))
