"""The compiled sparse-Winograd kernel (``kernels/sparse_winograd.c``): build, load, call.

The C source is compiled once per machine with the system C compiler (``cc -O3 -march=native``,
about a second) into a cache folder, keyed by the source, the flags and the CPU, and loaded
with ctypes: no pickle, no Python extension ABI. ``make install`` builds it
(``python -m winoprune.runtime``); otherwise the first use does. Where no compiler is
found, or ``WINOPRUNE_NATIVE=0``, ``available()`` is False and the runtime falls back to its
PyTorch product strategies (``conv.choose_strategy`` says which); ``reason()`` says why.

Environment: ``WINOPRUNE_KERNEL_CACHE`` (default ``~/.cache/winoprune/kernels``), ``CC``.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from functools import lru_cache
from pathlib import Path

import torch

SOURCE = Path(__file__).resolve().parent / "kernels" / "sparse_winograd.c"
FLAGS = ("-O3", "-march=native", "-fPIC", "-shared", "-fopenmp", "-pthread", "-std=gnu11")
ERRORS = {
    -1: "sizes must be positive and padding non-negative",
    -2: "tile size alpha must be 2..16 and at least m",
    -3: "output size does not match input size, padding and kernel",
    -4: "threads must be 1..64",
    -5: "a fused 2x2 max-pool needs an even tile size m and an output of at least 2x2",
}
_P = ctypes.c_void_p
_I = ctypes.c_int


def _cache_dir() -> Path:
    default = Path.home() / ".cache" / "winoprune" / "kernels"
    return Path(os.environ.get("WINOPRUNE_KERNEL_CACHE", default))


def _cpu_id() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    return platform.processor() or platform.machine()


def library_path(compiler: str) -> Path:
    """Where the library built from this source, flags, compiler and CPU lives."""
    key = hashlib.sha256()
    for part in (SOURCE.read_bytes(), " ".join(FLAGS).encode(), compiler.encode(), _cpu_id()):
        key.update(part if isinstance(part, bytes) else part.encode())
    return _cache_dir() / f"sparse_winograd-{key.hexdigest()[:16]}.so"


def build() -> Path:
    """Compile the kernel if its library is not cached yet; the library's path. RuntimeError
    with the compiler's message when it fails. Concurrent builds are safe (atomic rename)."""
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or ""
    if not compiler:
        raise RuntimeError("no C compiler found (set CC, or install gcc)")
    target = library_path(compiler)
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=target.parent)
    os.close(fd)
    try:
        done = subprocess.run(  # noqa: S603 (the compiler on fixed arguments, no shell)
            [compiler, *FLAGS, str(SOURCE), "-o", tmp], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"compiling {SOURCE.name} failed:\n{done.stderr.strip()}")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


@lru_cache(maxsize=1)
def _load() -> tuple[ctypes.CDLL | None, str]:
    if os.environ.get("WINOPRUNE_NATIVE", "1") == "0":
        return None, "disabled by WINOPRUNE_NATIVE=0"
    try:
        lib = ctypes.CDLL(str(build()))
    except (RuntimeError, OSError) as err:
        return None, str(err)
    lib.wp_sparse_winograd_conv.restype = _I
    lib.wp_sparse_winograd_conv.argtypes = [
        _P,
        *[_I] * 7,
        *[_P] * 6,
        _I,
        _I,
        _I,
        _P,
        _I,
        _I,
        _P,
        _I,
    ]
    lib.wp_workspace_floats.restype = ctypes.c_long
    lib.wp_workspace_floats.argtypes = [_I, _I, _I]
    lib.wp_uses_openmp.restype = _I
    lib.wp_uses_openmp.argtypes = []
    return lib, ""


def available() -> bool:
    """Whether the compiled kernel can be used here."""
    return _load()[0] is not None


def reason() -> str:
    """Why the compiled kernel is not available ('' when it is)."""
    return _load()[1]


def _ptr(t: torch.Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


class CsrWeights:
    """Q (K, C, a, a) float32 as CSR rows (s * K + k) over channels, int32 indices."""

    def __init__(self, q: torch.Tensor) -> None:
        k, c, a, _ = q.shape
        q_pos = q.float().permute(2, 3, 0, 1).reshape(a * a * k, c)
        nz = q_pos != 0
        counts = nz.sum(dim=1)
        if int(counts.sum()) >= 2**31:
            raise ValueError("weight: more than 2^31 nonzeros")
        self.rowptr = torch.zeros(a * a * k + 1, dtype=torch.int32)
        self.rowptr[1:] = counts.cumsum(0).to(torch.int32)
        self.cols = nz.nonzero()[:, 1].to(torch.int32).contiguous()
        self.vals = q_pos[nz].contiguous()
        self.k, self.c, self.a = k, c, a


def conv(
    x: torch.Tensor,
    weights: CsrWeights,
    bias: torch.Tensor | None,
    bt: torch.Tensor,
    at: torch.Tensor,
    padding: int,
    relu: bool = False,
    threads: int | None = None,
    scratch: dict[str, torch.Tensor] | None = None,
    out: torch.Tensor | None = None,
    pool: bool = False,
) -> torch.Tensor:
    """y (N, K, Ho, Wo) = the stride-1 conv of x (N, C, H, W) float32 contiguous with the
    sparse Winograd weights, through the compiled kernel; ``relu`` applies max(0, .) after the
    bias. ``bt`` (a, a) and ``at`` (m, a) float32 contiguous. ``scratch``: a dict the caller
    keeps (one per thread) so the kernel's workspace is allocated once, not per call (fresh
    pages cost a fault each); ``out``: a contiguous float32 (N, K, Ho, Wo) to write y into.
    ``pool``: a 2x2 stride-2 max-pool (floor mode) after it, fused: y is (N, K, Ho/2, Wo/2)."""
    lib, why = _load()
    if lib is None:
        raise RuntimeError(f"the compiled kernel is not available: {why}")
    m, a = at.shape
    if x.dim() != 4 or x.shape[1] != weights.c:
        raise ValueError(f"input: expected (N, {weights.c}, H, W), got {tuple(x.shape)}")
    if tuple(bt.shape) != (weights.a, weights.a) or a != weights.a:
        raise ValueError(f"transform: expected {weights.a}-point matrices, got {tuple(bt.shape)}")
    if bias is not None and tuple(bias.shape) != (weights.k,):
        raise ValueError(f"bias: expected ({weights.k},), got {tuple(bias.shape)}")
    tensors = (x, bt, at) if bias is None else (x, bt, at, bias)
    if any(t.dtype != torch.float32 or not t.is_contiguous() or t.is_cuda for t in tensors):
        raise ValueError("input, bias and transforms must be contiguous float32 CPU tensors")
    n, c, h, w = x.shape
    ho, wo = h + 2 * padding - (a - m), w + 2 * padding - (a - m)
    if ho < 1 or wo < 1:
        raise ValueError(f"input: spatial size {(h, w)} is smaller than the kernel")
    threads = max(1, min(64, threads or torch.get_num_threads()))
    if pool and (m % 2 or ho < 2 or wo < 2):
        raise ValueError(f"pool: {ERRORS[-5]}")
    shape = (n, weights.k, ho // 2, wo // 2) if pool else (n, weights.k, ho, wo)
    if out is None:
        y = torch.empty(shape, dtype=torch.float32)
    elif tuple(out.shape) != shape or out.dtype != torch.float32 or not out.is_contiguous():
        raise ValueError(f"out: expected a contiguous float32 tensor of shape {shape}")
    else:
        y = out
    need = int(lib.wp_workspace_floats(a, c, threads))
    work = scratch.get("work") if scratch is not None else None
    if work is None or work.numel() < need:
        work = torch.empty(need, dtype=torch.float32)
        if scratch is not None:
            scratch["work"] = work
    code = lib.wp_sparse_winograd_conv(
        _ptr(x), n, c, h, w, padding, m, a,
        _ptr(bt), _ptr(at), _ptr(weights.rowptr), _ptr(weights.cols), _ptr(weights.vals),
        _ptr(bias), weights.k, int(relu), int(pool), _ptr(y), ho, wo, _ptr(work), threads,
    )  # fmt: skip
    if code != 0:
        raise ValueError(f"sparse Winograd kernel: {ERRORS.get(code, f'error {code}')}")
    return y


def main() -> None:
    """``python -m winoprune.runtime`` (run by ``make install``): build the kernel now."""
    try:
        print(f"sparse-Winograd kernel: {build()}")
    except RuntimeError as err:
        print(f"sparse-Winograd kernel not built: {err}", file=sys.stderr)
        print("the runtime will use its PyTorch products instead", file=sys.stderr)
