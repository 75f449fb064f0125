"""The runtime's sparse Winograd layer equals the training-time WinogradConv2d.

Tolerance (float32): |runtime - WinogradConv2d| <= TOL[tile] * max|y64| with y64 the float64
F.conv2d reference; both float32 paths round differently (a sparse product or a GEMM sums the
channels in another order), and F(6,3)'s larger transform entries amplify rounding. Each
path's own error against y64 is checked as well, so a tolerance hiding a wrong result fails.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from winoprune.runtime import native
from winoprune.runtime.conv import STRATEGIES, SparseWinogradConv, choose_strategy, torch_strategy
from winoprune.winograd.functional import to_winograd
from winoprune.winograd.layers import WinogradConv2d
from winoprune.winograd.transforms import cook_toom

TOL = {2: 2e-6, 4: 2e-5, 6: 3e-4}


def _pattern(q: torch.Tensor, kind: str, gen: torch.Generator) -> torch.Tensor:
    k, c = q.shape[:2]
    if kind == "dense":
        return q
    if kind == "unstructured-70":
        return q * (torch.rand(q.shape, generator=gen) >= 0.7)
    if kind == "unstructured-95":
        return q * (torch.rand(q.shape, generator=gen) >= 0.95)
    if kind == "kernels":  # whole (k, c) kernels gone, as spatial-structured pruning leaves
        return q * (torch.rand(k, c, 1, 1, generator=gen) >= 0.8)
    if kind == "empty-rows":  # output channels and one Winograd position without weights
        q = q.clone()
        q[::2] = 0
        q[:, :, 1, 2] = 0
        return q
    if kind == "empty-cols":
        q = q.clone()
        q[:, 1::2] = 0
        return q
    assert kind == "all-zero"
    return torch.zeros_like(q)


def _layer(q: torch.Tensor, bias: torch.Tensor, tf, padding: int) -> WinogradConv2d:
    layer = WinogradConv2d(q.shape[1], q.shape[0], tf, padding=padding, dtype=q.dtype)
    with torch.no_grad():
        layer.weight.copy_(q)
        assert layer.bias is not None
        layer.bias.copy_(bias)
    return layer


@pytest.mark.parametrize("m", [2, 4, 6])
@pytest.mark.parametrize("padding", [0, 1, 2])
@pytest.mark.parametrize(
    "kind",
    [
        "dense",
        "unstructured-70",
        "unstructured-95",
        "kernels",
        "empty-rows",
        "empty-cols",
        "all-zero",
    ],
)
def test_runtime_layer_equals_winograd_conv2d(m: int, padding: int, kind: str) -> None:
    tf = cook_toom(m, 3)
    gen = torch.Generator().manual_seed(m * 100 + padding)
    k, c = 6, 5
    w = torch.randn(k, c, 3, 3, generator=gen, dtype=torch.float64)
    q64 = _pattern(to_winograd(w, tf), kind, gen)
    bias = torch.randn(k, generator=gen, dtype=torch.float64)
    x = torch.randn(3, c, 11, 13, generator=gen, dtype=torch.float64)  # partial edge tiles
    # float64 reference through the same Q: the layer in float64 is exact up to 1e-12
    y64 = _layer(q64, bias, tf, padding)(x).detach()
    if kind == "dense":
        assert torch.allclose(y64, F.conv2d(x, w, bias, padding=padding), atol=1e-9)
    y32 = _layer(q64.float(), bias.float(), tf, padding)(x.float()).detach()
    scale = float(y64.abs().max())
    for strategy in STRATEGIES:
        runtime = SparseWinogradConv(q64.float(), bias.float(), tf, padding, strategy)
        got = runtime(x.float())
        assert got.shape == y64.shape
        assert float((got - y32).abs().max()) <= TOL[m] * scale, strategy
        assert float((got.double() - y64).abs().max()) <= TOL[m] * scale, strategy


def test_runtime_without_bias_and_the_strategy_choice() -> None:
    tf = cook_toom(4, 3)
    gen = torch.Generator().manual_seed(1)
    q = to_winograd(torch.randn(8, 8, 3, 3, generator=gen, dtype=torch.float64), tf).float()
    x = torch.randn(2, 8, 8, 8, generator=gen)
    expected = _layer(q, torch.zeros(8), tf, 1)(x).detach()
    got = SparseWinogradConv(q, None, tf, 1)(x)
    assert float((got - expected).abs().max()) <= TOL[4] * float(expected.abs().max())
    assert choose_strategy(q) == ("compiled" if native.available() else "dense")
    assert torch_strategy(q) == "dense"
    assert torch_strategy(q * (torch.rand(q.shape, generator=gen) > 0.9)) == "csr"
    half = q.clone()
    half[:4] = 0  # half the output rows empty at every position
    assert torch_strategy(half) == "compact"


def test_runtime_rejects_bad_shapes() -> None:
    tf = cook_toom(4, 3)
    with pytest.raises(ValueError, match="weight"):
        SparseWinogradConv(torch.zeros(2, 2, 4, 4), None, tf, 1)
    layer = SparseWinogradConv(torch.ones(2, 3, 6, 6), None, tf, 1)
    with pytest.raises(ValueError, match="input: expected"):
        layer(torch.zeros(1, 4, 8, 8))
    with pytest.raises(ValueError, match="strategy"):
        SparseWinogradConv(torch.ones(2, 3, 6, 6), None, tf, 1, "magic")
