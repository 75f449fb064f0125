"""Both layouts of the output-side tiles ((m*m, K, P) and, for short tile rows, (m*m, P, K)) and
the in-place overlap-add of whole-tile inputs: values and gradients against F.conv2d in float64."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from winoprune.winograd import tiling
from winoprune.winograd.functional import to_winograd, winograd_conv2d
from winoprune.winograd.relu import winograd_relu_conv2d
from winoprune.winograd.transforms import cook_toom

# (m, r, pad): pad 0, 'same' and r = 5's pad 2; on whole-tile sizes 'same' padding and F(4,3)'s
# pad 0 take the in-place overlap-add, F(2,3)'s pad 0 and F(4,3)'s pad 2 (tiles past the
# output, or output rows past the tiles) the blocked one
CASES = [(2, 3, 0), (2, 3, 1), (4, 3, 0), (4, 3, 1), (4, 3, 2), (6, 3, 1), (2, 5, 2)]
# (H, W): whole tiles of every m above, and ragged ones
SIZES = [(12, 24), (13, 10)]
LAYOUTS = {"channels-inner": 1 << 20, "channels-outer": 0}  # CHANNELS_INNER_MAX_TW


def _relative_error(got: torch.Tensor, want: torch.Tensor) -> float:
    return ((got - want).abs().max() / want.abs().max()).item()


@pytest.mark.parametrize(("m", "r", "pad"), CASES)
@pytest.mark.parametrize(("h", "w"), SIZES)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_values_and_gradients_match_conv2d_in_both_layouts(monkeypatch, m, r, pad, h, w, layout):
    monkeypatch.setattr(tiling, "CHANNELS_INNER_MAX_TW", LAYOUTS[layout])
    tf = cook_toom(m, r)
    gen = torch.Generator().manual_seed(m * 10 + r + pad)
    x = torch.randn(3, 5, h, w, generator=gen, dtype=torch.float64)
    weight = torch.randn(7, 5, r, r, generator=gen, dtype=torch.float64)
    bias = torch.randn(7, generator=gen, dtype=torch.float64)
    geo = tiling.geometry(x, torch.empty(7, 5, tf.alpha, tf.alpha), tf, pad)
    assert tiling.channels_inner_tiles(geo) == (layout == "channels-inner")
    xw, w_ref, bw = (t.clone().requires_grad_() for t in (x, weight, bias))
    want = F.conv2d(xw, w_ref, bw, padding=pad)
    grad_y = torch.randn(want.shape, generator=gen, dtype=torch.float64)
    want.backward(grad_y)
    xq, bq = x.clone().requires_grad_(), bias.clone().requires_grad_()
    q = to_winograd(weight, tf).requires_grad_()
    got = winograd_conv2d(xq, q, tf, bq, pad)
    got.backward(grad_y)
    assert _relative_error(got, want) < 1e-12
    assert _relative_error(xq.grad, xw.grad) < 1e-12
    assert _relative_error(bq.grad, bw.grad) < 1e-12
    assert _relative_error(tf.G.T @ q.grad @ tf.G, w_ref.grad) < 1e-12


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize(("h", "w"), [(8, 16), (9, 10)])
def test_winograd_relu_gradcheck_in_both_layouts(monkeypatch, layout, h, w):
    """The ReLU layer shares the tiled passes: its masked backward in either layout."""
    monkeypatch.setattr(tiling, "CHANNELS_INNER_MAX_TW", LAYOUTS[layout])
    tf = cook_toom(4, 3)
    gen = torch.Generator().manual_seed(h + w)
    x = torch.randn(2, 2, h, w, generator=gen, dtype=torch.float64, requires_grad=True)
    q = torch.randn(3, 2, 6, 6, generator=gen, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(3, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda *t: winograd_relu_conv2d(t[0], t[1], tf, t[2], 1), (x, q, bias), fast_mode=True
    )


def test_aligned_overlap_add_sums_every_tile_into_its_window():
    """Each a x a tile gradient (stride m, origin m * t - pad) summed into out, by loops."""
    m, a, pad, n, c, th, tw = 4, 6, 1, 2, 3, 3, 2
    geo = tiling.Geometry(n, c, c, th * m, tw * m, pad, m, a, th * m, tw * m, th, tw)
    d_tiles = torch.randn(a, a, n, th, tw, c, dtype=torch.float64)
    want = torch.zeros(n, c, th * m + 2 * a, tw * m + 2 * a, dtype=torch.float64)
    for i in range(th):
        for j in range(tw):
            window = want[:, :, a + i * m - pad : a + i * m - pad + a, a + j * m - pad :]
            window[..., :a] += d_tiles[:, :, :, i, j].permute(2, 3, 0, 1)
    want = want[:, :, a : a + th * m, a : a + tw * m]
    out = torch.empty(n, c, th * m, tw * m, dtype=torch.float64)
    tiling.overlap_add(d_tiles.clone(), geo, out)
    assert torch.allclose(out, want, atol=1e-12)
