"""The compiled sparse-Winograd kernel against float64 references, and its build and guards.

Every kernel path is reached here: the F(2,3), F(4,3) and F(6,3) instantiations and the generic
one (F(3,3), F(2,5), F(8,3) with tiles wider than 8 lanes), 8/16/32 tiles per block, work split
by blocks (many tiles) or by channels (few tiles), partial edge tiles, fused ReLU, 1-3 threads.
Tolerance as in test_conv: TOL[m] * max|y64|.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from winoprune.runtime import native
from winoprune.winograd.functional import to_winograd
from winoprune.winograd.transforms import cook_toom

pytestmark = pytest.mark.skipif(not native.available(), reason=f"no kernel: {native.reason()}")

TOL = {2: 2e-6, 3: 1e-5, 4: 2e-5, 6: 3e-4, 8: 2e-3}


def _case(m: int, r: int, n: int, c: int, k: int, hw: tuple[int, int], pad: int, density: float):
    gen = torch.Generator().manual_seed(m * 1000 + n * 10 + c + k)
    tf = cook_toom(m, r)
    w = torch.randn(k, c, r, r, generator=gen, dtype=torch.float64)
    keep = torch.rand(k, c, tf.alpha, tf.alpha, generator=gen) < density
    q = to_winograd(w, tf) * keep
    x = torch.randn(n, c, *hw, generator=gen, dtype=torch.float64)
    bias = torch.randn(k, generator=gen, dtype=torch.float64)
    # float64 reference through the same Q: Winograd in float64 is exact to ~1e-12, and at
    # density 1 it is F.conv2d itself (checked below)
    from winoprune.winograd.functional import winograd_conv2d

    y64 = winograd_conv2d(x, q, tf, padding=pad) + bias.view(1, -1, 1, 1)
    if density == 1.0:
        assert torch.allclose(y64, F.conv2d(x, w, bias, padding=pad), atol=1e-8)
    return tf, q, x, bias, y64


def _run(tf, q, x, bias, pad, relu=False, threads=None, pool=False):
    return native.conv(
        x.float().contiguous(),
        native.CsrWeights(q.float()),
        bias.float(),
        tf.BT.float().contiguous(),
        tf.AT.float().contiguous(),
        pad,
        relu=relu,
        threads=threads,
        pool=pool,
    )


@pytest.mark.parametrize(
    ("m", "r", "n", "c", "k", "hw", "pad", "density"),
    [
        (4, 3, 1, 3, 5, (13, 11), 1, 1.0),  # few tiles: split by channels, 8-tile blocks
        (4, 3, 9, 7, 20, (12, 12), 1, 0.3),  # 16-tile blocks, output channels past one block
        (4, 3, 40, 6, 9, (8, 8), 1, 0.7),  # 32-tile blocks split by blocks, last one partial
        (2, 3, 5, 4, 6, (9, 10), 0, 0.5),
        (6, 3, 3, 5, 4, (17, 15), 2, 0.4),
        (3, 3, 4, 3, 5, (10, 9), 1, 0.6),  # generic path, a = 5
        (2, 5, 2, 3, 4, (11, 12), 2, 1.0),  # generic path, r = 5
        (8, 3, 2, 2, 3, (19, 21), 1, 1.0),  # a = 10: scalar gather and scatter
        (4, 3, 2, 4, 4, (3, 3), 1, 1.0),  # one partial tile per image
    ],
)
def test_kernel_equals_float64_winograd(m, r, n, c, k, hw, pad, density) -> None:
    tf, q, x, bias, y64 = _case(m, r, n, c, k, hw, pad, density)
    scale = float(y64.abs().max())
    for threads in (1, 2, 3):
        got = _run(tf, q, x, bias, pad, threads=threads)
        assert got.shape == y64.shape
        assert float((got.double() - y64).abs().max()) <= TOL[m] * scale, threads
    fused = _run(tf, q, x, bias, pad, relu=True, threads=2)
    assert float((fused.double() - y64.clamp(min=0)).abs().max()) <= TOL[m] * scale
    assert bool((fused >= 0).all())
    if m % 2 == 0 and min(y64.shape[2:]) >= 2:  # fused 2x2/2 max-pool, floor mode
        pooled = F.max_pool2d(y64.clamp(min=0), 2, 2)
        for threads in (1, 3):
            got = _run(tf, q, x, bias, pad, relu=True, threads=threads, pool=True)
            assert got.shape == pooled.shape
            assert float((got.double() - pooled).abs().max()) <= TOL[m] * scale
    else:
        with pytest.raises(ValueError, match="pool"):
            _run(tf, q, x, bias, pad, pool=True)


def test_empty_weights_give_the_bias_and_threads_agree_exactly() -> None:
    tf, q, x, bias, _ = _case(4, 3, 6, 8, 8, (16, 16), 1, 0.5)
    zero = _run(tf, torch.zeros_like(q), x, bias, 1)
    assert torch.equal(zero, bias.float().view(1, -1, 1, 1).expand_as(zero))
    # every output is summed by one thread in the same order, whatever the split
    assert torch.equal(_run(tf, q, x, bias, 1, threads=1), _run(tf, q, x, bias, 1, threads=2))


def test_bad_arguments_are_refused_before_the_kernel_reads_memory() -> None:
    tf, q, x, _, _ = _case(4, 3, 1, 3, 4, (8, 8), 1, 1.0)
    weights = native.CsrWeights(q.float())
    bt, at = tf.BT.float().contiguous(), tf.AT.float().contiguous()
    xf = x.float().contiguous()
    with pytest.raises(ValueError, match=r"input: expected \(N, 3, H, W\)"):
        native.conv(xf[:, :2].contiguous(), weights, None, bt, at, 1)
    with pytest.raises(ValueError, match="bias: expected"):
        native.conv(xf, weights, torch.zeros(5), bt, at, 1)
    with pytest.raises(ValueError, match="transform"):
        other = cook_toom(2, 3)
        native.conv(xf, weights, None, other.BT.float(), other.AT.float(), 1)
    with pytest.raises(ValueError, match="contiguous float32"):
        native.conv(x, weights, None, bt, at, 1)  # float64
    with pytest.raises(ValueError, match="smaller than the kernel"):
        native.conv(xf[:, :, :1, :1].contiguous(), weights, None, bt, at, 0)


def _python(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_disabled_or_unbuildable_kernel_falls_back_with_a_reason(tmp_path) -> None:
    probe = (
        "from winoprune.runtime import native, conv; import torch;"
        "print(native.available(), native.reason(), conv.choose_strategy(torch.ones(2, 2, 6, 6)))"
    )
    off = _python(probe, WINOPRUNE_NATIVE="0")
    assert off.stdout.split()[0] == "False" and "WINOPRUNE_NATIVE=0" in off.stdout
    assert off.stdout.split()[-1] == "dense"
    broken = _python(probe, CC="false", WINOPRUNE_KERNEL_CACHE=str(tmp_path))
    assert broken.stdout.split()[0] == "False" and "compiling" in broken.stdout
    assert not list(tmp_path.glob("*.so"))  # a failed build leaves nothing behind
    forced = _python(
        "from winoprune.runtime.conv import SparseWinogradConv;"
        "from winoprune.winograd.transforms import cook_toom; import torch;"
        "SparseWinogradConv(torch.ones(2, 2, 6, 6), None, cook_toom(4, 3), 1, 'compiled')",
        WINOPRUNE_NATIVE="0",
    )
    assert forced.returncode != 0 and "the kernel is not built" in forced.stderr


def test_build_is_cached_per_source_and_machine(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("WINOPRUNE_KERNEL_CACHE", str(tmp_path))
    first = native.build()
    assert first.parent == tmp_path and first.exists()
    stamp = first.stat().st_mtime_ns
    assert native.build() == first and first.stat().st_mtime_ns == stamp  # not rebuilt
    assert first.name.startswith("sparse_winograd-") and first.suffix == ".so"


def test_model_runs_a_following_relu_inside_the_layer_and_the_conv2d_twin_keeps_it() -> None:
    from winoprune.runtime.model import SparseModel
    from winoprune.runtime.speed import conv2d_twin

    tf, q, x, bias, y64 = _case(4, 3, 2, 3, 4, (8, 8), 1, 0.5)
    ops = [
        {"op": "winograd_conv", "name": "c", "in_channels": 3, "out_channels": 4, "padding": 1},
        {"op": "relu"},
    ]
    model = SparseModel(ops, {"c": {"q": q.float(), "bias": bias.float()}}, tf)
    assert model.steps[0].relu  # type: ignore[attr-defined]
    got = model(x.float())
    assert float((got.double() - y64.clamp(min=0)).abs().max()) <= TOL[4] * float(y64.abs().max())
    twin = conv2d_twin(model)(x.float())
    assert bool((twin >= 0).all()) and bool((twin == 0).any())  # the ReLU was not dropped
    pool = {"op": "maxpool", "kernel": 2, "stride": 2, "padding": 0}
    pooled = SparseModel([*ops, pool], {"c": {"q": q.float(), "bias": bias.float()}}, tf)
    assert pooled.steps[0].pool  # type: ignore[attr-defined]
    expected = F.max_pool2d(y64.clamp(min=0), 2, 2)
    got = pooled(x.float())
    assert float((got.double() - expected).abs().max()) <= TOL[4] * float(y64.abs().max())
    assert conv2d_twin(pooled)(x.float()).shape == expected.shape  # the twin pools too
    other = {"op": "maxpool", "kernel": 3, "stride": 2, "padding": 1}  # not fused
    assert (
        not SparseModel([*ops, other], {"c": {"q": q.float(), "bias": bias.float()}}, tf)
        .steps[0]
        .pool
    )  # type: ignore[attr-defined]


def test_portable_build_without_avx2_gives_the_same_results(tmp_path, monkeypatch) -> None:
    """The scalar gather/scatter (machines without AVX2, e.g. ARM) and the pthreads split (a
    compiler without OpenMP) against float64, and the source compiles free of warnings both
    ways."""
    import ctypes
    import shutil

    cc = shutil.which("cc") or shutil.which("gcc")
    assert cc is not None
    lib_path = tmp_path / "portable.so"
    plain = [f for f in native.FLAGS if f not in ("-march=native", "-fopenmp")]
    flags = [*plain, "-Wall", "-Wextra", "-Werror"]
    built = subprocess.run(
        [cc, *flags, str(native.SOURCE), "-o", str(lib_path)], capture_output=True, text=True
    )
    assert built.returncode == 0, built.stderr
    strict = [*native.FLAGS, "-Wall", "-Wextra", "-Werror"]
    native_build = subprocess.run(
        [cc, *strict, str(native.SOURCE), "-o", str(tmp_path / "n.so")], capture_output=True
    )
    assert native_build.returncode == 0, native_build.stderr
    lib, _ = native._load()
    portable = ctypes.CDLL(str(lib_path))
    assert lib is not None
    for name in ("wp_sparse_winograd_conv", "wp_workspace_floats"):
        getattr(portable, name).restype = getattr(lib, name).restype
        getattr(portable, name).argtypes = getattr(lib, name).argtypes
    assert portable.wp_uses_openmp() == 0  # the pthreads split
    monkeypatch.setattr(native, "_load", lambda: (portable, ""))
    for m, n, hw, pad in ((4, 9, (12, 11), 1), (2, 3, (9, 9), 0), (6, 2, (14, 15), 2)):
        tf, q, x, bias, y64 = _case(m, 3, n, 5, 6, hw, pad, 0.6)
        got = _run(tf, q, x, bias, pad, threads=2)
        assert float((got.double() - y64).abs().max()) <= TOL[m] * float(y64.abs().max())


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="needs Linux /proc")
def test_kernel_runs_on_the_openmp_runtime_pytorch_loaded() -> None:
    """One OpenMP runtime in the process, PyTorch's: the kernel's threads are PyTorch's own
    workers (a second pool competes with them for the cores while they spin after an op)."""
    probe = _python(
        "import json, torch; from winoprune.runtime import native;"
        "lib = native._load()[0]; maps = open('/proc/self/maps').read().splitlines();"
        "print(json.dumps([lib.wp_uses_openmp(), sorted({ln.split()[-1] for ln in maps"
        " if 'libgomp' in ln})]))"
    )
    assert probe.returncode == 0, probe.stderr
    uses_openmp, runtimes = json.loads(probe.stdout)
    assert uses_openmp == 1
    assert len(runtimes) == 1 and "torch" in runtimes[0], runtimes


def test_one_layer_called_from_several_threads_at_once_keeps_each_result() -> None:
    """The layer keeps its workspace per calling thread, so concurrent calls (ctypes releases
    the GIL) do not overwrite each other's transformed tiles."""
    from concurrent.futures import ThreadPoolExecutor

    from winoprune.runtime.conv import SparseWinogradConv

    tf, q, x, bias, _ = _case(4, 3, 8, 16, 16, (16, 16), 1, 0.5)
    layer = SparseWinogradConv(q.float(), bias.float(), tf, 1, "compiled")
    inputs = [x.float() * (i + 1) for i in range(6)]
    expected = [layer(xi) for xi in inputs]
    with ThreadPoolExecutor(3) as pool:
        for _ in range(3):
            got = list(pool.map(layer, inputs))
            assert all(torch.equal(g, e) for g, e in zip(got, expected, strict=True))


def test_model_reuses_its_layer_buffers_without_aliasing_results() -> None:
    from winoprune.runtime.model import SparseModel

    tf, q, x, bias, _ = _case(4, 3, 4, 3, 4, (8, 8), 1, 0.5)
    op = {"op": "winograd_conv", "name": "c", "in_channels": 3, "out_channels": 4, "padding": 1}
    model = SparseModel([op], {"c": {"q": q.float(), "bias": bias.float()}}, tf)
    first = model(x.float())
    kept = first.clone()
    second = model(2 * x.float())  # the layer's buffer is written again
    assert torch.equal(first, kept)  # the returned result was copied out of the buffer
    assert torch.allclose(
        second - bias.float().view(1, -1, 1, 1),
        2 * (kept - bias.float().view(1, -1, 1, 1)),
        atol=1e-4,
    )
    smaller = model(x[:1].float())  # another batch size: a new buffer, a right result
    assert torch.allclose(smaller, kept[:1])
    with pytest.raises(ValueError, match="out: expected"):
        model.steps[0](x.float(), out=torch.empty(1, 4, 8, 8))  # type: ignore[call-arg]
