"""Winograd-domain ReLU layer (Liu et al. 2018): a float64 per-tile reference, gradients, the
identity case against WinogradConv2d and F.conv2d, and the activation count by brute force."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from winoprune.pruning.activations import (
    activation_multiplications,
    count_activations,
    winograd_relu_layers,
)
from winoprune.winograd.functional import to_winograd
from winoprune.winograd.layers import WinogradConv2d
from winoprune.winograd.relu import (
    LIU_INIT_FACTOR,
    ActivationCount,
    WinogradReLUConv2d,
    variance_scaling_,
    winograd_relu_conv2d,
)
from winoprune.winograd.transforms import standard_transform

TILES = ("F(2,3)", "F(4,3)")


def naive_tiles(x, tf, pad, relu):
    """Every a x a tile of x (N, C, H, W) as a dict (n, ty, tx) -> V+ (C, a, a), by loops."""
    n, c, h, w = x.shape
    m, a, r = tf.m, tf.alpha, tf.r
    ho, wo = h + 2 * pad - r + 1, w + 2 * pad - r + 1
    th, tw = math.ceil(ho / m), math.ceil(wo / m)
    bt = tf.BT
    out = {}
    for i in range(n):
        for ty in range(th):
            for tx in range(tw):
                d = torch.zeros(c, a, a, dtype=torch.float64)
                for p in range(a):
                    for q in range(a):
                        y, xx = ty * m - pad + p, tx * m - pad + q  # origin m * t - pad
                        if 0 <= y < h and 0 <= xx < w:
                            d[:, p, q] = x[i, :, y, xx]
                v = bt @ d @ bt.T
                out[i, ty, tx] = v.clamp_min(0) if relu else v
    return out, (th, tw, ho, wo)


def naive_layer(x, q, tf, pad=1, relu=True, bias=None):
    """Y = AT [sum_c Q_kc * nl(BT d_c B)] A per tile, written into the output and cropped."""
    tiles, (th, tw, ho, wo) = naive_tiles(x, tf, pad, relu)
    m, k = tf.m, q.shape[0]
    at = tf.AT
    y = torch.zeros(x.shape[0], k, th * m, tw * m, dtype=torch.float64)
    for (i, ty, tx), v in tiles.items():
        mm = (q * v.unsqueeze(0)).sum(dim=1)  # (K, a, a)
        y[i, :, ty * m : ty * m + m, tx * m : tx * m + m] = at @ mm @ at.T
    y = y[:, :, :ho, :wo]
    return y if bias is None else y + bias.view(1, -1, 1, 1)


def _inputs(tile, n=2, c=3, k=4, h=7, w=6, seed=0):
    torch.manual_seed(seed)
    tf = standard_transform(tile)
    x = torch.randn(n, c, h, w, dtype=torch.float64)
    q = torch.randn(k, c, tf.alpha, tf.alpha, dtype=torch.float64)
    return tf, x, q


@pytest.mark.parametrize("tile", TILES)
@pytest.mark.parametrize(("h", "w"), [(8, 8), (7, 6), (5, 9)])
@pytest.mark.parametrize("pad", [0, 1, 2])
def test_layer_equals_the_per_tile_reference(tile, h, w, pad):
    tf, x, q = _inputs(tile, h=h, w=w)
    bias = torch.randn(q.shape[0], dtype=torch.float64)
    got = winograd_relu_conv2d(x, q, tf, bias, pad)
    want = naive_layer(x, q, tf, pad, relu=True, bias=bias)
    assert got.shape == want.shape == (2, 4, h + 2 * pad - 2, w + 2 * pad - 2)
    assert torch.allclose(got, want, atol=1e-12)


@pytest.mark.parametrize("tile", TILES)
@pytest.mark.parametrize("activation", ["relu", "identity"])
def test_gradcheck(tile, activation):
    tf, x, q = _inputs(tile, n=1, c=2, k=3, h=5, w=6)
    bias = torch.randn(3, dtype=torch.float64)
    for t in (x, q, bias):
        t.requires_grad_(True)

    def fn(x, q, bias):
        return winograd_relu_conv2d(x, q, tf, bias, 1, activation)

    assert torch.autograd.gradcheck(fn, (x, q, bias))


def test_gradients_equal_autograd_through_the_reference():
    """The hand-written backward (ReLU mask V+ > 0) against autograd through the loops."""
    tf = standard_transform("F(2,3)")
    torch.manual_seed(4)
    x = torch.randn(2, 2, 5, 4, dtype=torch.float64, requires_grad=True)
    q = torch.randn(3, 2, 4, 4, dtype=torch.float64, requires_grad=True)
    winograd_relu_conv2d(x, q, tf).sum().backward()
    x2 = x.detach().clone().requires_grad_(True)
    q2 = q.detach().clone().requires_grad_(True)
    naive_layer(x2, q2, tf).sum().backward()
    assert torch.allclose(x.grad, x2.grad, atol=1e-12)
    assert torch.allclose(q.grad, q2.grad, atol=1e-12)


@pytest.mark.parametrize("tile", TILES)
@pytest.mark.parametrize(("h", "w"), [(8, 8), (7, 9)])
def test_identity_equals_winograd_conv2d_and_conv2d(tile, h, w):
    """The authors' own check: nl = identity and Q = G W G^T give conv2d(x, W, padding=1)."""
    tf = standard_transform(tile)
    torch.manual_seed(1)
    weight = torch.randn(4, 3, 3, 3, dtype=torch.float64)
    x = torch.randn(2, 3, h, w, dtype=torch.float64)
    layer = WinogradReLUConv2d(3, 4, tf, dtype=torch.float64, activation="identity")
    plain = WinogradConv2d(3, 4, tf, dtype=torch.float64)
    with torch.no_grad():
        layer.weight.copy_(to_winograd(weight, tf))
        plain.weight.copy_(layer.weight)
        assert layer.bias is not None and plain.bias is not None
        layer.bias.normal_()
        plain.bias.copy_(layer.bias)
    want = F.conv2d(x, weight, layer.bias, padding=1)
    assert torch.allclose(layer(x), want, atol=1e-12)
    assert torch.allclose(layer(x), plain(x), atol=1e-12)
    conv = layer.to_conv2d()
    assert torch.allclose(conv.weight, weight, atol=1e-12)


def test_relu_layer_is_not_a_spatial_conv():
    """Rectifying each overlapping tile differs from conv2d(relu(x)) and from no ReLU."""
    tf = standard_transform("F(2,3)")
    torch.manual_seed(2)
    weight = torch.randn(4, 3, 3, 3, dtype=torch.float64)
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    q = to_winograd(weight, tf)
    got = winograd_relu_conv2d(x, q, tf)
    assert (got - F.conv2d(F.relu(x), weight, padding=1)).abs().max() > 0.1
    assert (got - F.conv2d(x, weight, padding=1)).abs().max() > 0.1
    layer = WinogradReLUConv2d(3, 4, tf)
    with pytest.raises(ValueError, match=r"activation: .* no spatial equivalent"):
        layer.to_conv2d()


def test_channels_last_and_float32_follow_the_reference():
    tf, x, q = _inputs("F(4,3)", h=9, w=8)
    want = naive_layer(x, q, tf)
    got = winograd_relu_conv2d(
        x.float().contiguous(memory_format=torch.channels_last), q.float(), tf
    )
    assert got.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(got.double(), want, atol=1e-3, rtol=1e-4)


def test_bad_arguments_name_their_field():
    tf, x, q = _inputs("F(2,3)")
    with pytest.raises(ValueError, match="activation: must be one of"):
        winograd_relu_conv2d(x, q, tf, activation="gelu")
    with pytest.raises(ValueError, match="weight: expected Winograd weights"):
        winograd_relu_conv2d(x, q[..., :3, :3], tf)
    with pytest.raises(ValueError, match="init: must be one of"):
        WinogradReLUConv2d(3, 4, tf, init="zeros")


def test_variance_scaling_matches_liu_et_al():
    """Truncated at 2 sigma, sigma^2 = 1.3 * factor / fan_in: variance ~ factor / fan_in."""
    torch.manual_seed(3)
    q = torch.empty(256, 64, 4, 4)
    variance_scaling_(q)
    fan_in = 64 * 16
    sigma = math.sqrt(1.3 * LIU_INIT_FACTOR / fan_in)
    assert q.abs().max() <= 2 * sigma + 1e-7
    assert q.std().item() == pytest.approx(math.sqrt(LIU_INIT_FACTOR / fan_in), rel=0.02)
    layer = WinogradReLUConv2d(16, 8, standard_transform("F(2,3)"), init="variance-scaling")
    assert layer.weight.abs().max() <= 2 * math.sqrt(1.3 * LIU_INIT_FACTOR / (16 * 16)) + 1e-7


@pytest.mark.parametrize("tile", TILES)
@pytest.mark.parametrize("activation", ["relu", "identity"])
def test_activation_count_equals_a_brute_force_count(tile, activation):
    tf, x, q = _inputs(tile, n=3, c=3, k=5, h=7, w=5)
    q[q.abs() < 0.6] = 0  # a pruned Q: #{k : Q != 0} varies with (c, s)
    x[:, :, 0, :] = 0  # whole zero rows: some transformed entries vanish without the ReLU too
    count = ActivationCount(tf.alpha**2, 3)
    winograd_relu_conv2d(x, q, tf, activation=activation, count=count)
    tiles, (th, tw, _, _) = naive_tiles(x, tf, 1, activation == "relu")
    mults = nonzero = 0
    for v in tiles.values():
        for c in range(3):
            for i in range(tf.alpha):
                for j in range(tf.alpha):
                    if v[c, i, j] != 0:
                        nonzero += 1
                        mults += sum(1 for k in range(5) if q[k, c, i, j] != 0)
    assert count.images == 3 and count.tiles == 3 * th * tw
    assert int(count.nonzero.sum()) == nonzero
    assert count.density == pytest.approx(nonzero / (3 * th * tw * 3 * tf.alpha**2))
    assert activation_multiplications(count, q) == mults
    if activation == "relu":
        assert 0.3 < count.density < 0.7  # about half of symmetric V is negative
    with pytest.raises(ValueError, match="weight: shape"):
        activation_multiplications(count, q[:, :2])


def test_count_activations_counts_only_inside_the_block():
    tf = standard_transform("F(2,3)")
    model = torch.nn.Sequential(
        WinogradReLUConv2d(3, 4, tf, activation="identity"),
        torch.nn.BatchNorm2d(4),
        WinogradReLUConv2d(4, 4, tf),
    )
    x = torch.randn(2, 3, 6, 6)
    assert list(winograd_relu_layers(model)) == ["0", "2"]
    with count_activations(model) as counts, torch.no_grad():
        model(x)
        model(x)
    assert set(counts) == {"0", "2"}
    assert counts["2"].images == 4 and counts["2"].tiles == 4 * 9
    assert all(layer.activation_count is None for layer in winograd_relu_layers(model).values())
    before = counts["2"].tiles
    model(x)
    assert counts["2"].tiles == before


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("tile", TILES)
def test_cuda_matches_the_reference_gradchecks_and_counts_as_the_cpu(tile):
    tf, x, q = _inputs(tile, n=2, c=3, k=4, h=7, w=6)
    want = naive_layer(x, q, tf)
    xc, qc = x.cuda().requires_grad_(True), q.cuda().requires_grad_(True)
    got = winograd_relu_conv2d(xc, qc, tf)
    assert got.device.type == "cuda" and torch.allclose(got.cpu(), want, atol=1e-12)
    assert torch.autograd.gradcheck(lambda x, q: winograd_relu_conv2d(x, q, tf), (xc, qc))
    cpu, cuda = ActivationCount(tf.alpha**2, 3), ActivationCount(tf.alpha**2, 3)
    winograd_relu_conv2d(x, q, tf, count=cpu)
    winograd_relu_conv2d(x.cuda(), q.cuda(), tf, count=cuda)
    assert torch.equal(cpu.nonzero, cuda.nonzero) and cpu.tiles == cuda.tiles
