"""DWM: rectangular transforms, the piece layout, float64 equality with F.conv2d for strides 1
and 2, kernels 1-7 and every padding, gradients, the layer and multiplication counts."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from winoprune.winograd.dwm import (
    DWMConv2d,
    dwm_conv2d,
    dwm_ineligibility,
    dwm_layout,
    split_1d,
)
from winoprune.winograd.layers import WinogradConv2d, convert_model, uses_dwm
from winoprune.winograd.rect import rect_to_winograd, rect_transform, rect_winograd_conv2d

TOL = 1e-12


def _rand(*shape: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64)


@pytest.mark.parametrize(("m", "r1", "r2"), list(itertools.product((2, 4), (1, 2, 3), (1, 2, 3))))
def test_rectangular_transform_is_a_valid_correlation(m: int, r1: int, r2: int) -> None:
    tf = rect_transform(m, r1, r2)
    assert tf.tile == (m + r1 - 1, m + r2 - 1) and tf.multiplications == math.prod(tf.tile)
    x, w = _rand(2, 3, 9, 8), _rand(4, 3, r1, r2, seed=1)
    q = rect_to_winograd(w, tf)
    assert q.shape == (4, 3, *tf.tile)
    y = rect_winograd_conv2d(x, q, tf)
    torch.testing.assert_close(y, F.conv2d(x, w), atol=TOL, rtol=0)


def test_small_piece_transforms_are_the_dwm_codes() -> None:
    one, two = rect_transform(2, 1, 2).rows, rect_transform(2, 1, 2).cols
    # F(2,1) is the identity (AT = B = I_2, G = [1, 1]^T); F(2,2) as in the DWM code (spec 2.2)
    assert torch.equal(one.AT, torch.eye(2, dtype=torch.float64))
    assert torch.equal(one.BT, torch.eye(2, dtype=torch.float64))
    assert torch.equal(one.G, torch.ones(2, 1, dtype=torch.float64))
    assert two.G.tolist() == [[1, 0], [1, 1], [0, 1]]
    assert two.BT.tolist() == [[1, -1, 0], [0, 1, 0], [0, -1, 1]]
    assert two.AT.tolist() == [[1, 1, 0], [0, 1, 1]]


@pytest.mark.parametrize("r", range(1, 11))
def test_split_covers_each_tap_once_with_pieces_of_at_most_3(r: int) -> None:
    pieces = split_1d(r)
    taps = [t for start, end in pieces for t in range(start, end)]
    assert taps == list(range(r))
    assert all(1 <= end - start <= 3 for start, end in pieces)
    assert sum(end - start + 1 for start, end in pieces) == r + 1 + (r - 1) // 3  # spec 2.2


@pytest.mark.parametrize(("k", "s"), list(itertools.product(range(1, 10), (1, 2, 3))))
def test_pieces_cover_every_kernel_tap_exactly_once(k: int, s: int) -> None:
    layout = dwm_layout((k, k), (s, s))
    hits = torch.zeros(k, k, dtype=torch.long)
    for piece in layout.pieces:
        assert max(piece.kernel) <= 3
        for u, v in itertools.product(piece.rows, piece.cols):
            hits[u, v] += 1
            assert (u % s, v % s) == piece.phase
    assert torch.equal(hits, torch.ones(k, k, dtype=torch.long))
    assert layout.pieces[-1].positions.stop == sum(math.prod(p.tile) for p in layout.pieces)


CASES = [
    (k, s, p, h, w)
    for k in range(1, 8)
    for s in (1, 2)
    for p in range(k)  # every padding that F.conv2d allows up to k - 1
    for h, w in ((9, 10), (12, 7))  # odd and even sizes
]


@pytest.mark.parametrize(("k", "s", "p", "h", "w"), CASES)
def test_dwm_equals_conv2d_in_float64(k: int, s: int, p: int, h: int, w: int) -> None:
    layout = dwm_layout((k, k), (s, s))
    x, weight, bias = _rand(2, 3, h, w), _rand(4, 3, k, k, seed=1), _rand(4, seed=2)
    y = dwm_conv2d(x, layout.to_winograd(weight), layout, bias, (p, p))
    ref = F.conv2d(x, weight, bias, stride=s, padding=p)
    assert y.shape == ref.shape
    torch.testing.assert_close(y, ref, atol=TOL, rtol=0)


@pytest.mark.parametrize(
    ("kernel", "stride", "padding"), [((5, 2), (2, 1), (2, 0)), ((1, 7), (3, 2), (0, 3))]
)
def test_rectangular_kernels_strides_and_paddings(kernel, stride, padding) -> None:
    layout = dwm_layout(kernel, stride)
    x, weight = _rand(1, 2, 11, 13), _rand(3, 2, *kernel, seed=1)
    y = dwm_conv2d(x, layout.to_winograd(weight), layout, None, padding)
    ref = F.conv2d(x, weight, stride=stride, padding=padding)
    torch.testing.assert_close(y, ref, atol=TOL, rtol=0)


@pytest.mark.parametrize(("k", "s"), [(3, 2), (7, 2), (5, 1), (1, 2)])
def test_gradcheck(k: int, s: int) -> None:
    layout = dwm_layout((k, k), (s, s))
    x = _rand(1, 2, 9, 8).requires_grad_()
    q = layout.to_winograd(_rand(2, 2, k, k, seed=1)).requires_grad_()
    bias = _rand(2, seed=2).requires_grad_()
    assert torch.autograd.gradcheck(  # every Jacobian entry up to 3x3, projections above
        lambda x, q, b: dwm_conv2d(x, q, layout, b, (k // 2, k // 2)), (x, q, bias), fast_mode=k > 3
    )


def _direct_mults_per_tile(k: int) -> int:
    return 4 * k * k  # a 2x2 output tile by direct convolution


def _dwm_mults_per_tile(k: int, s: int) -> int:
    """Independent formula (spec 2.2, 2.4): per side sum a_i = r + 1 + floor((r - 1) / 3) of
    each phase sub-kernel side r = ceil((k - phase) / s); 2-D pieces are the products."""
    side = [r + 1 + (r - 1) // 3 for r in (math.ceil((k - a) / s) for a in range(min(s, k)))]
    return sum(a * b for a in side for b in side)


# spec 2.4: DWM multiplications per 2x2 tile per (k, c) pair, and the direct ones
SPEC_TABLE = [(3, 1, 16, 36), (4, 1, 36, 64), (5, 1, 49, 100), (7, 1, 100, 196), (9, 1, 144, 324),
              (3, 2, 25, 36), (5, 2, 49, 100), (7, 2, 100, 196)]  # fmt: skip


@pytest.mark.parametrize(("k", "s", "dwm", "direct"), SPEC_TABLE)
def test_multiplications_match_the_spec_table(k: int, s: int, dwm: int, direct: int) -> None:
    layout = dwm_layout((k, k), (s, s))
    assert layout.multiplications_per_tile == dwm == _dwm_mults_per_tile(k, s)
    assert _direct_mults_per_tile(k) == direct


@pytest.mark.parametrize(("k", "s"), list(itertools.product(range(1, 10), (1, 2))))
def test_multiplications_match_the_independent_formula(k: int, s: int) -> None:
    assert dwm_layout((k, k), (s, s)).multiplications_per_tile == _dwm_mults_per_tile(k, s)


def test_resnet_conv1_pieces_are_the_worked_example() -> None:
    layout = dwm_layout((7, 7), (2, 2))
    summary = sorted((p.phase, p.offset, p.kernel) for p in layout.pieces)
    assert summary == sorted(
        [((0, 0), o, (2, 2)) for o in ((0, 0), (0, 2), (2, 0), (2, 2))]
        + [((0, 1), (0, 0), (2, 3)), ((0, 1), (2, 0), (2, 3))]
        + [((1, 0), (0, 0), (3, 2)), ((1, 0), (0, 2), (3, 2))]
        + [((1, 1), (0, 0), (3, 3))]
    )


@pytest.mark.parametrize(("k", "s", "p"), [(7, 2, 3), (3, 2, 1), (1, 2, 0), (5, 1, 2)])
def test_layer_from_conv2d_round_trip(k: int, s: int, p: int) -> None:
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 4, k, stride=s, padding=p, dtype=torch.float64)
    layer = DWMConv2d.from_conv2d(conv)
    assert layer.weight.shape == (4, 3, layer.layout.positions)
    x = _rand(2, 3, 13, 12)
    torch.testing.assert_close(layer(x), conv(x), atol=TOL, rtol=0)
    back = layer.to_conv2d()
    torch.testing.assert_close(back.weight, conv.weight, atol=1e-12, rtol=0)
    assert back.stride == conv.stride and back.padding == conv.padding
    assert [tuple(v.shape[2:]) for v in layer.piece_weights()] == [
        pc.tile for pc in layer.layout.pieces
    ]


def test_pruned_q_has_no_spatial_equivalent_and_bad_convs_are_refused() -> None:
    layer = DWMConv2d.from_conv2d(nn.Conv2d(2, 2, 3, stride=2, padding=1))
    with torch.no_grad():
        layer.weight[:, :, 0] = 0.0
        layer.weight[:, :, 1] += 1.0
    with pytest.raises(ValueError, match=r"^weight: Q is not in the range"):
        layer.to_conv2d()
    assert "groups" in str(dwm_ineligibility(nn.Conv2d(4, 4, 3, groups=2)))
    assert "dilation" in str(dwm_ineligibility(nn.Conv2d(4, 4, 3, dilation=2)))
    with pytest.raises(ValueError, match=r"^conv: cannot convert to a DWM layer"):
        DWMConv2d.from_conv2d(nn.Conv2d(2, 2, 3, padding_mode="reflect"))


def test_float32_layer_trains() -> None:
    layer = DWMConv2d(3, 5, (7, 7), (2, 2), (3, 3))
    x = torch.randn(2, 3, 16, 16, requires_grad=True)
    layer(x).square().sum().backward()
    assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0
    assert x.grad is not None and layer.bias is not None and layer.bias.grad is not None


def test_convert_model_uses_dwm_only_when_asked() -> None:
    def model() -> nn.Sequential:
        torch.manual_seed(0)
        return nn.Sequential(
            nn.Conv2d(3, 4, 7, stride=2, padding=3),
            nn.Conv2d(4, 4, 3, padding=1),
            nn.Conv2d(4, 4, 1, stride=2),
            nn.Conv2d(4, 4, 3, padding=1, groups=2),
        ).double()

    plain, dwm = model(), model()
    x = _rand(1, 3, 20, 20)
    expected = plain(x)
    assert convert_model(plain).converted == ["1"]
    report = convert_model(dwm, dwm=True)
    assert report.converted == ["0", "1", "2"] and "groups" in report.skipped["3"]
    assert isinstance(dwm[0], DWMConv2d) and isinstance(dwm[1], WinogradConv2d)
    assert isinstance(dwm[2], DWMConv2d) and isinstance(dwm[3], nn.Conv2d)
    torch.testing.assert_close(dwm(x), expected, atol=1e-12, rtol=0)
    assert uses_dwm(nn.Conv2d(3, 3, 5)) and not uses_dwm(nn.Conv2d(3, 3, 3))


def test_importance_factors_rank_pieces_on_one_scale() -> None:
    layout = dwm_layout((3, 3), (2, 2))
    raw = layout.raw_importance_factors()
    f_hat = layout.importance_factors()
    torch.testing.assert_close(f_hat, raw / raw.min())
    # the 1x1 phase is the identity transform: raw factors 1, the layer's minimum
    identity = next(p for p in layout.pieces if p.kernel == (1, 1))
    assert torch.equal(raw[identity.positions], torch.ones(4, dtype=torch.float64))
    per_piece = layout.importance_factors("piece")
    assert all(per_piece[p.positions].min() == 1 for p in layout.pieces)
    with pytest.raises(ValueError, match=r"^normalise"):
        layout.importance_factors("global")
