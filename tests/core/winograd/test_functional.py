"""winograd_conv2d against F.conv2d: values, gradients, dtypes, layouts and input errors."""

from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F

from winoprune.winograd import tiling
from winoprune.winograd.functional import to_winograd, winograd_conv2d
from winoprune.winograd.transforms import cook_toom

TRANSFORMS = [(2, 3), (4, 3), (6, 3), (2, 5)]
# float32 max error relative to max |conv2d| (measured: 2e-7, 3e-6, 5e-6, 2e-6 on unit data)
FLOAT32_TOL = {(2, 3): 2e-6, (4, 3): 3e-5, (6, 3): 5e-5, (2, 5): 3e-5}
# (N, C, K, H, W): H, W not multiples of m, tiny inputs, batch 1, C != K
SHAPES = [(2, 3, 5, 7, 9), (1, 2, 3, 1, 1), (1, 3, 2, 2, 2), (3, 4, 4, 12, 12), (1, 1, 6, 5, 3)]


def _case(shape, r, dtype=torch.float64, seed=0):
    n, c, k, h, w = shape
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c, h, w, generator=gen, dtype=torch.float64).to(dtype)
    weight = torch.randn(k, c, r, r, generator=gen, dtype=torch.float64)
    bias = torch.randn(k, generator=gen, dtype=torch.float64)
    return x, weight, bias


def _paddings(shape, r):
    """Padding 0 (when the input is at least r) and 'same' padding r // 2."""
    h, w = shape[3:]
    return [p for p in (0, 1, r // 2) if min(h, w) + 2 * p >= r]


def _relative_error(y, ref):
    return ((y.double() - ref).abs().max() / ref.abs().max().clamp_min(1e-12)).item()


@pytest.mark.parametrize(("m", "r"), TRANSFORMS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("with_bias", [False, True])
def test_matches_conv2d_in_float64_and_float32(m, r, shape, with_bias):
    tf = cook_toom(m, r)
    x, weight, bias = _case(shape, r)
    b = bias if with_bias else None
    q = to_winograd(weight, tf)
    for pad in sorted(set(_paddings(shape, r))):
        ref = F.conv2d(x, weight, b, padding=pad)
        y = winograd_conv2d(x, q, tf, b, padding=pad)
        assert y.shape == ref.shape and y.dtype == torch.float64
        assert _relative_error(y, ref) < 1e-12
        y32 = winograd_conv2d(x.float(), q.float(), tf, None if b is None else b.float(), pad)
        assert y32.dtype == torch.float32
        assert _relative_error(y32, ref) < FLOAT32_TOL[(m, r)]


def test_default_padding_is_half_the_kernel():
    tf = cook_toom(2, 5)
    x, weight, _ = _case((1, 2, 3, 6, 6), 5)
    assert torch.allclose(
        winograd_conv2d(x, to_winograd(weight, tf), tf), F.conv2d(x, weight, padding=2)
    )


@pytest.mark.parametrize(("m", "r"), [(2, 3), (4, 3), (2, 5)])
@pytest.mark.parametrize("pad", [0, 1])
def test_gradcheck_float64(m, r, pad):
    tf = cook_toom(m, r)
    x, weight, bias = _case((2, 2, 3, 7, 6), r, seed=m + r + pad)
    q = to_winograd(weight, tf)
    inputs = (x.requires_grad_(), q.requires_grad_(), bias.requires_grad_())
    # every Jacobian entry for the smallest tile; random projections (fast mode) for the rest
    fast = (m, r, pad) != (2, 3, 0)
    assert torch.autograd.gradcheck(
        lambda *t: winograd_conv2d(*t[:2], tf, t[2], pad), inputs, fast_mode=fast
    )


def test_gradients_match_conv2d_gradients():
    """dL/dx equals conv2d's; dL/dQ maps back to conv2d's dL/dW through the chain rule G^T . G."""
    tf = cook_toom(4, 3)
    x, weight, bias = _case((2, 3, 4, 9, 10), 3)
    grad_y = torch.randn(2, 4, 9, 10, dtype=torch.float64)
    xw, w, bw = (
        x.clone().requires_grad_(),
        weight.clone().requires_grad_(),
        bias.clone().requires_grad_(),
    )
    F.conv2d(xw, w, bw, padding=1).backward(grad_y)
    xq, bq = x.clone().requires_grad_(), bias.clone().requires_grad_()
    q = to_winograd(weight, tf).requires_grad_()
    winograd_conv2d(xq, q, tf, bq, 1).backward(grad_y)
    assert torch.allclose(xq.grad, xw.grad, atol=1e-10)
    assert torch.allclose(bq.grad, bw.grad, atol=1e-10)
    g = tf.G
    assert torch.allclose(g.T @ q.grad @ g, w.grad, atol=1e-9)


@pytest.mark.parametrize(("dtype", "tol"), [(torch.float64, 1e-12), (torch.float32, 2e-5)])
def test_gradients_keep_the_precision_of_their_dtype(dtype, tol):
    """dx and G^T dQ G against conv2d's float64 gradients at the dtype's precision: float64
    gradients formed in float32 (and cast back by autograd) pass allclose's rtol, not this."""
    tf = cook_toom(4, 3)
    x, weight, bias = _case((2, 3, 4, 9, 10), 3)
    grad_y = torch.randn(2, 4, 9, 10, dtype=torch.float64)
    xw, w = x.clone().requires_grad_(), weight.clone().requires_grad_()
    F.conv2d(xw, w, bias, padding=1).backward(grad_y)
    xq = x.to(dtype).requires_grad_()
    q = to_winograd(weight, tf).to(dtype).requires_grad_()
    winograd_conv2d(xq, q, tf, bias.to(dtype), 1).backward(grad_y.to(dtype))
    assert xq.grad is not None and q.grad is not None
    assert xq.grad.dtype == dtype and q.grad.dtype == dtype
    assert _relative_error(xq.grad, xw.grad) < tol
    assert _relative_error(tf.G.T @ q.grad.double() @ tf.G, w.grad) < tol


def test_only_the_requested_gradients_are_computed():
    tf = cook_toom(4, 3)
    x, weight, _ = _case((1, 2, 2, 6, 6), 3)
    q = to_winograd(weight, tf).requires_grad_()
    winograd_conv2d(x, q, tf).sum().backward()
    assert q.grad is not None and x.grad is None
    x.requires_grad_()
    winograd_conv2d(x, q.detach(), tf).sum().backward()
    assert x.grad is not None


def test_many_batch_chunks_give_the_same_values_and_gradients(monkeypatch):
    tf = cook_toom(4, 3)
    x, weight, bias = _case((5, 3, 4, 9, 7), 3)
    q = to_winograd(weight, tf)
    whole = [t.clone().requires_grad_() for t in (x, q, bias)]
    y_whole = winograd_conv2d(whole[0], whole[1], tf, whole[2])
    y_whole.sum().backward()
    monkeypatch.setattr(tiling, "CHUNK_BYTES", 1)
    monkeypatch.setattr(tiling, "MIN_CHUNK_TILES", 1)
    cpu = torch.device("cpu")
    assert len(tiling.batch_chunks(tiling.geometry(x, q, tf, 1), 8, cpu)) == 5
    parts = [t.clone().requires_grad_() for t in (x, q, bias)]
    y_parts = winograd_conv2d(parts[0], parts[1], tf, parts[2])
    y_parts.sum().backward()
    assert torch.allclose(y_parts, y_whole, atol=1e-12)
    for a, b in zip(parts, whole, strict=True):
        assert torch.allclose(a.grad, b.grad, atol=1e-10)
    assert torch.autograd.gradcheck(
        lambda *t: winograd_conv2d(t[0], t[1], tf, t[2]), parts, fast_mode=True
    )


def test_gpu_chunks_hold_the_whole_batch_unless_it_is_huge():
    """On a GPU each chunk costs kernel launches, so the batch is not cut to cache size."""
    tf = cook_toom(4, 3)
    x = torch.empty(128, 64, 32, 32)
    geo = tiling.geometry(x, torch.empty(64, 64, 6, 6), tf, 1)
    assert len(tiling.batch_chunks(geo, 4, torch.device("cpu"))) > 16
    assert len(tiling.batch_chunks(geo, 4, torch.device("cuda"))) == 1
    big = tiling.geometry(torch.empty(4096, 64, 64, 64), torch.empty(64, 64, 6, 6), tf, 1)
    parts = tiling.batch_chunks(big, 4, torch.device("cuda"))
    per_image = 36 * 16 * 16 * 64 * 4
    assert len(parts) > 1 and all(p.n * per_image <= tiling.GPU_CHUNK_BYTES for _, p in parts)


def test_channels_last_input_gives_channels_last_output():
    tf = cook_toom(4, 3)
    x, weight, _ = _case((2, 3, 4, 8, 8), 3)
    x_cl = x.contiguous(memory_format=torch.channels_last).requires_grad_()
    y = winograd_conv2d(x_cl, to_winograd(weight, tf), tf)
    assert y.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(y, F.conv2d(x, weight, padding=1), atol=1e-12)
    y.sum().backward()
    assert x_cl.grad is not None
    assert torch.allclose(
        x_cl.grad, torch.autograd.grad(F.conv2d(x.requires_grad_(), weight, padding=1).sum(), x)[0]
    )


@pytest.mark.parametrize(("m", "tol"), [(2, 3e-2), (4, 2e-1)])
def test_bfloat16_on_cpu_at_a_loose_tolerance(m, tol):
    """bf16 keeps 8 bits of mantissa; F(4,3)'s transform entries (up to 25 in BT x BT) cost more."""
    tf = cook_toom(m, 3)
    x, weight, bias = _case((2, 4, 3, 9, 9), 3)
    y = winograd_conv2d(x.bfloat16(), to_winograd(weight, tf).bfloat16(), tf, bias.bfloat16())
    assert y.dtype == torch.bfloat16
    assert _relative_error(y, F.conv2d(x, weight, bias, padding=1)) < tol


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
def test_cuda_follows_the_input_device_and_dtype(dtype):
    tf = cook_toom(4, 3)
    x, weight, bias = _case((2, 4, 3, 9, 9), 3)
    cuda = [t.to("cuda", dtype) for t in (x, to_winograd(weight, tf), bias)]
    cuda[0].requires_grad_()
    y = winograd_conv2d(cuda[0], cuda[1], tf, cuda[2])
    y.sum().backward()
    assert y.device.type == "cuda" and y.dtype == dtype and cuda[0].grad is not None
    tol = {torch.float64: 1e-12, torch.float32: 1e-4}.get(dtype, 2e-1)
    assert _relative_error(y.cpu(), F.conv2d(x, weight, bias, padding=1)) < tol


def test_to_winograd_shape_and_values():
    tf = cook_toom(4, 3)
    w = torch.randn(2, 3, 3, 3, dtype=torch.float64)
    q = to_winograd(w, tf)
    assert q.shape == (2, 3, 6, 6)
    assert torch.allclose(q[1, 2], tf.G @ w[1, 2] @ tf.G.T)
    with pytest.raises(ValueError, match=re.escape("weight: expected shape (K, C, 3, 3)")):
        to_winograd(torch.zeros(2, 3, 5, 5), tf)


def test_to_winograd_keeps_the_weight_dtype_and_rejects_other_kernel_shapes():
    """Float32 and bfloat16 weights (the layers' case) give Q in their dtype; a 3-D weight or a
    non-square kernel is refused with the field named, not transformed or left to torch."""
    tf = cook_toom(4, 3)
    w = torch.randn(2, 3, 3, 3, dtype=torch.float64)
    ref = to_winograd(w, tf)
    for dtype, tol in ((torch.float32, 1e-6), (torch.bfloat16, 2e-2)):
        q = to_winograd(w.to(dtype), tf)
        assert q.dtype == dtype and q.shape == (2, 3, 6, 6)
        assert _relative_error(q, ref) < tol
    for shape in ((3, 3, 3), (2, 3, 3, 5), (2, 3, 5, 3)):
        with pytest.raises(ValueError, match=re.escape("weight: expected shape (K, C, 3, 3)")):
            to_winograd(torch.zeros(shape), tf)


@pytest.mark.parametrize(
    ("x_shape", "q_shape", "kwargs", "error", "message"),
    [
        (
            (1, 2, 8, 8),
            (3, 2, 4, 4),
            {},
            ValueError,
            "weight: expected Winograd weights (K, C, 6, 6)",
        ),
        ((1, 2, 8, 8), (3, 2, 6), {}, ValueError, "weight: expected Winograd weights"),
        (
            (1, 4, 8, 8),
            (3, 2, 6, 6),
            {},
            ValueError,
            "input: has 4 channels but the weight expects 2",
        ),
        ((1, 2, 2, 8), (3, 2, 6, 6), {"padding": 0}, ValueError, "smaller than the 3x3 kernel"),
        (
            (1, 2, 8, 8),
            (3, 2, 6, 6),
            {"padding": -1},
            ValueError,
            "padding: must be an integer >= 0",
        ),
        ((2, 8, 8), (3, 2, 6, 6), {}, ValueError, "input: expected a 4-D tensor"),
        (
            (1, 2, 8, 8),
            (3, 2, 6, 6),
            {"bias": torch.zeros(4)},
            ValueError,
            "bias: expected shape (3,)",
        ),
    ],
)
def test_bad_input_names_the_field(x_shape, q_shape, kwargs, error, message):
    tf = cook_toom(4, 3)
    with pytest.raises(error, match=re.escape(message)):
        winograd_conv2d(torch.zeros(x_shape), torch.zeros(q_shape), tf, **kwargs)


def test_dtype_mismatch_and_integer_input_are_type_errors():
    tf = cook_toom(2, 3)
    with pytest.raises(TypeError, match="weight: dtype/device"):
        winograd_conv2d(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4, dtype=torch.float64), tf)
    with pytest.raises(TypeError, match="input: expected a floating-point tensor"):
        winograd_conv2d(torch.zeros(1, 1, 4, 4, dtype=torch.int64), torch.zeros(1, 1, 4, 4), tf)
