"""Winograd adder layer (Li et al. 2021): a naive per-tile float64 reference at p = 2, 1.5 and 1,
gradcheck, AdderNet's rules through the transforms, and the balanced matrices (our choice: Li et
al.'s are NOT FOUND) against spec 3.3's candidate, exactness and the balance diagnostic."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from winoprune.winograd.wadder import (
    AdderTransform,
    WinogradAdderConv2d,
    adder_transform,
    winograd_adder_conv2d,
)


def naive_winograd_adder(x, u, tf, pad, p):
    """Y = AT (-sum_c |U_kc - BT d_c B|^p) A tile by tile, float64 loops over n, k and tiles."""
    n, c, h, w = x.shape
    k = u.shape[0]
    m, a, r = tf.m, tf.alpha, tf.r
    ho, wo = h + 2 * pad - r + 1, w + 2 * pad - r + 1
    th, tw = math.ceil(ho / m), math.ceil(wo / m)
    xp = torch.zeros(n, c, th * m + r - 1, tw * m + r - 1, dtype=torch.float64)
    xp[:, :, pad : pad + h, pad : pad + w] = x
    at, bt = tf.AT, tf.BT
    y = torch.zeros(n, k, th * m, tw * m, dtype=torch.float64)
    for b in range(n):
        for ty in range(th):
            for tx in range(tw):
                d = xp[b, :, ty * m : ty * m + a, tx * m : tx * m + a]
                v = torch.stack([bt @ d[ch] @ bt.T for ch in range(c)])
                for t in range(k):
                    mm = -sum((u[t, ch] - v[ch]).abs() ** p for ch in range(c))
                    y[b, t, ty * m : ty * m + m, tx * m : tx * m + m] = at @ mm @ at.T
    return y[:, :, :ho, :wo]


def random_u(k, c, tf, gen):
    g = torch.randn(k, c, tf.r, tf.r, generator=gen, dtype=torch.float64)
    return tf.G @ g @ tf.G.T


@pytest.mark.parametrize("p", [2.0, 1.5, 1.0])
@pytest.mark.parametrize(
    ("tile", "choice"), [("F(2,3)", "balanced"), ("F(2,3)", "standard"), ("F(4,3)", "balanced")]
)
@pytest.mark.parametrize("grad_mode", ["addernet", "exact"])
def test_forward_matches_per_tile_reference(p, tile, choice, grad_mode):
    tf = adder_transform(tile, choice)
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(2, 3, 7, 5, generator=gen, dtype=torch.float64)
    u = random_u(4, 3, tf, gen)
    got = winograd_adder_conv2d(x, u, tf, 1, p, grad_mode)
    torch.testing.assert_close(got, naive_winograd_adder(x, u, tf, 1, p), rtol=1e-10, atol=1e-9)


def test_padding_zero_and_odd_size():
    tf = adder_transform("F(2,3)")
    gen = torch.Generator().manual_seed(6)
    x = torch.randn(1, 2, 6, 9, generator=gen, dtype=torch.float64)
    u = random_u(3, 2, tf, gen)
    got = winograd_adder_conv2d(x, u, tf, 0, 1.0)
    assert got.shape == (1, 3, 4, 7)
    torch.testing.assert_close(got, naive_winograd_adder(x, u, tf, 0, 1.0))


@pytest.mark.parametrize("p", [2.0, 1.0])
def test_exact_mode_passes_gradcheck(p):
    tf = adder_transform("F(2,3)")
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(1, 2, 4, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    u = random_u(2, 2, tf, gen).requires_grad_()
    fn = lambda a, b: winograd_adder_conv2d(a, b, tf, 1, p, "exact")  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x, u))


def test_addernet_rules_through_the_transforms():
    """dU_s = sum_t dM_s (V_s - U_s) and dV_s = sum_k dM_s clamp(U_s - V_s, -1, 1), with
    dM = AT^T dY A per tile and dx the overlap-add of BT^T dV B, all by loops."""
    tf = adder_transform("F(2,3)")
    gen = torch.Generator().manual_seed(8)
    x = torch.randn(1, 2, 4, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    u = random_u(3, 2, tf, gen).requires_grad_()
    y = winograd_adder_conv2d(x, u, tf, 1, 2.0, "addernet")
    dy = torch.randn(y.shape, generator=gen, dtype=torch.float64)
    y.backward(dy)
    at, bt, m, a = tf.AT, tf.BT, tf.m, tf.alpha
    xp = F.pad(x.detach(), (1, 1, 1, 1))
    want_u, want_xp = torch.zeros_like(u), torch.zeros_like(xp)
    uu = u.detach()
    for ty in range(2):
        for tx in range(2):
            d = xp[0, :, ty * m : ty * m + a, tx * m : tx * m + a]
            v = torch.stack([bt @ d[ch] @ bt.T for ch in range(2)])
            dv = torch.zeros_like(v)
            for t in range(3):
                dm = at.T @ dy[0, t, ty * m : ty * m + m, tx * m : tx * m + m] @ at
                for ch in range(2):
                    want_u[t, ch] += dm * (v[ch] - uu[t, ch])
                    dv[ch] += dm * (uu[t, ch] - v[ch]).clamp(-1, 1)
            for ch in range(2):
                want_xp[0, ch, ty * m : ty * m + a, tx * m : tx * m + a] += bt.T @ dv[ch] @ bt
    torch.testing.assert_close(u.grad, want_u)
    torch.testing.assert_close(x.grad, want_xp[:, :, 1:5, 1:5])


def test_balanced_f23_is_spec_candidate():
    tf = adder_transform("F(2,3)", "balanced")
    assert tf.AT.tolist() == [[1, 1, -1, 0], [0, 1, 1, -1]]
    assert tf.AT.sum(dim=1).tolist() == [1.0, 1.0]
    # spec 3.3 flips Lavin's point -1 (G row 2 = [-1/2, 1/2, -1/2]); our Toom-Cook infinity row
    # differs from Lavin's by a sign in both G and BT, which leaves every |U - V| unchanged
    assert tf.G[2].tolist() == [-0.5, 0.5, -0.5]
    lavin_g3, lavin_b3 = torch.tensor([0.0, 0, 1]), torch.tensor([0.0, 1, 0, -1])
    assert torch.equal(tf.G[3].float().outer(tf.BT[3].float()), lavin_g3.outer(lavin_b3))


@pytest.mark.parametrize("tile", ["F(2,3)", "F(4,3)"])
def test_balanced_matrices_keep_multiplicative_winograd_exact(tile):
    tf = adder_transform(tile, "balanced")
    gen = torch.Generator().manual_seed(9)
    d = torch.randn(tf.alpha, tf.alpha, generator=gen, dtype=torch.float64)
    g = torch.randn(tf.r, tf.r, generator=gen, dtype=torch.float64)
    y = tf.AT @ ((tf.G @ g @ tf.G.T) * (tf.BT @ d @ tf.BT.T)) @ tf.AT.T
    want = F.conv2d(d.view(1, 1, tf.alpha, tf.alpha), g.view(1, 1, tf.r, tf.r))[0, 0]
    torch.testing.assert_close(y, want, rtol=1e-12, atol=1e-12)


def tile_means(tf, channels=16, tiles=4000, seed=10):
    """Mean of each of the m*m outputs of AT (-sum_c |U - V|) A on random data: U and d iid
    standard normal, drawn per tile (spec 3.3's simulation): only the matrices shape the means."""
    gen = torch.Generator().manual_seed(seed)
    u = torch.randn(tiles, channels, tf.alpha, tf.alpha, generator=gen, dtype=torch.float64)
    d = torch.randn(tiles, channels, tf.alpha, tf.alpha, generator=gen, dtype=torch.float64)
    v = tf.BT @ d @ tf.BT.T
    mm = -(u - v).abs().sum(dim=1)
    return (tf.AT @ mm @ tf.AT.T).mean(dim=0).flatten()


def test_balance_diagnostic_equal_means_for_balanced_f23():
    balanced = tile_means(adder_transform("F(2,3)", "balanced"))
    assert bool((balanced < 0).all())
    assert float(balanced.max() / balanced.min()) == pytest.approx(1.0, abs=0.05)
    standard = tile_means(adder_transform("F(2,3)", "standard"))
    # row sums (3, 1): means in ratio 9 : 3 : 3 : 1, far from balanced
    assert float(standard.min() / standard.max()) > 5


def test_custom_matrices_are_passed_through():
    tf = adder_transform("F(2,3)", "standard")
    scaled = AdderTransform.from_matrices("x2", 2 * tf.AT, tf.G, tf.BT)
    gen = torch.Generator().manual_seed(11)
    x = torch.randn(1, 1, 4, 4, generator=gen, dtype=torch.float64)
    u = random_u(1, 1, tf, gen)
    torch.testing.assert_close(
        winograd_adder_conv2d(x, u, scaled), 4 * winograd_adder_conv2d(x, u, tf)
    )
    with pytest.raises(ValueError, match="transform"):
        AdderTransform.from_matrices("bad", tf.AT, tf.G[:, :2], tf.BT)


@pytest.mark.parametrize("train_param", ["g", "U"])
def test_layer_trains_its_parameter(train_param):
    torch.manual_seed(12)
    layer = WinogradAdderConv2d(2, 3, adder_transform("F(2,3)"), train_param=train_param, p=2.0)
    x = torch.randn(2, 2, 6, 6)
    y = layer(x)
    assert y.shape == (2, 3, 6, 6)
    want = naive_winograd_adder(
        x.double(), layer.winograd_weight().detach().double(), layer.transform, 1, 2.0
    )
    torch.testing.assert_close(y.double(), want, rtol=1e-4, atol=1e-3)
    y.sum().backward()
    assert layer.weight.grad is not None
    k = layer.weight.numel()
    assert layer.weight.grad.norm().item() == pytest.approx(0.2 * math.sqrt(k), rel=1e-5)
    with pytest.raises(ValueError, match="p: must be in"):
        layer.p = 2.5
