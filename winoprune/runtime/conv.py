"""The inference kernel of an exported Winograd layer: input transform, per-position sparse
products, output transform (no autograd, no training graph).

Shapes: x (N, C, H, W) -> y (N, K, Ho, Wo), ``Ho = H + 2 * padding - r + 1``, stride 1. Per batch
chunk the a x a input tiles are gathered into D (a*a, C, P) (P = n * th * tw, tiles contiguous,
so every per-position operand is a (C, P) row-major matrix), ``V = kron(BT, BT) D`` (two a x a
passes for a > 4), then per position s ``M_s = Q_s V_s`` (K, P), and ``Y = kron(AT, AT) M``
scattered into the m x m output tiles. Where the compiled kernel builds (``native``: a C
compiler on the machine), every layer runs it (``compiled``: the whole layer in one call, tiles
in SIMD lanes, only Q's nonzeros multiplied, see ``kernels/sparse_winograd.c``); it was faster
than the PyTorch products at every density measured by ``benchmarks/sparse_inference.py``.
Without it the product step has three PyTorch implementations, chosen per layer by the density
of Q (thresholds from the same benchmark):

- ``dense``: one batched GEMM over the a*a positions (zeros multiplied like any number);
- ``compact``: per position only the rows K_s and channels C_s with a nonzero, one dense
  |K_s| x |C_s| GEMM each (whole zero rows/channels of structured patterns skipped);
- ``csr``: the a*a matrices Q_s as one block-diagonal CSR matrix (a*a*K, a*a*C), one MKL sparse
  x dense product with the stacked V (a*a*C, P) giving M (a*a*K, P) in place.
"""

from __future__ import annotations

import threading
import warnings

import torch
import torch.nn.functional as F

from winoprune.runtime import native
from winoprune.winograd.functional import _flat_transforms, separable_transform
from winoprune.winograd.transforms import WinogradTransform

STRATEGIES = ("compiled", "dense", "compact", "csr")
# Q density (nonzero fraction) at or below which the block-diagonal CSR product is used, and
# the fraction of a dense GEMM's size below which the compacted GEMMs are. The idle run of
# benchmarks/sparse_inference.py (sparse_inference-quick.json, 2-core EPYC): CSR about 1.3x
# slower than the dense product at 70 % sparsity, 1.05x faster only at 90 %.
CSR_MAX_DENSITY = 0.12
COMPACT_MAX_FRACTION = 0.75
CHUNK_BYTES = 4 << 20  # transformed tiles per batch chunk: stays in the 2 x 1 MiB L2 + L3


def choose_strategy(q: torch.Tensor) -> str:
    """The product strategy for Q (K, C, a, a): ``compiled`` where the kernel builds, else
    ``torch_strategy(q)``."""
    return "compiled" if native.available() else torch_strategy(q)


def torch_strategy(q: torch.Tensor) -> str:
    """The PyTorch product strategy for Q: ``csr`` when sparse enough, ``compact`` when whole
    rows/channels per position vanish, else ``dense``."""
    density = float((q != 0).float().mean())
    if density <= CSR_MAX_DENSITY:
        return "csr"
    per_pos = q.permute(2, 3, 0, 1).reshape(-1, q.shape[0], q.shape[1]) != 0
    kept = per_pos.any(dim=2).sum(dim=1) * per_pos.any(dim=1).sum(dim=1)
    if float(kept.sum()) <= COMPACT_MAX_FRACTION * per_pos.numel():
        return "compact"
    return "dense"


def _block_diagonal_csr(q_pos: torch.Tensor) -> torch.Tensor:
    """The matrices q_pos (S, K, C) as one block-diagonal CSR matrix (S*K, S*C)."""
    s, k, c = q_pos.shape
    idx = q_pos.nonzero()  # row-major: sorted by (s, k, c)
    rows = idx[:, 0] * k + idx[:, 1]
    crow = torch.zeros(s * k + 1, dtype=torch.int64)
    crow[1:] = torch.bincount(rows, minlength=s * k).cumsum(0)
    col = idx[:, 0] * c + idx[:, 2]
    with warnings.catch_warnings():  # "sparse CSR support is in beta state"
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(crow, col, q_pos[q_pos != 0], (s * k, s * c))


class SparseWinogradConv:
    """y = conv(x, Q) for Winograd weights Q (K, C, a, a) float32, bias (K,), stride 1."""

    def __init__(
        self,
        q: torch.Tensor,
        bias: torch.Tensor | None,
        tf: WinogradTransform,
        padding: int,
        strategy: str | None = None,
        relu: bool = False,
    ) -> None:
        k, c, a, a2 = q.shape
        if a != tf.alpha or a2 != tf.alpha:
            raise ValueError(
                f"weight: expected (K, C, {tf.alpha}, {tf.alpha}), got {tuple(q.shape)}"
            )
        self.k, self.c, self.tf, self.padding = k, c, tf, padding
        self.relu = relu  # max(0, .) after the bias (the model fuses a following ReLU)
        self.pool = False  # a 2x2/2 max-pool after it (the model fuses one where m is even)
        self.strategy = strategy or choose_strategy(q)
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy: must be one of {STRATEGIES}, got {self.strategy!r}")
        if self.strategy == "compiled" and not native.available():
            raise RuntimeError(f"strategy 'compiled': the kernel is not built: {native.reason()}")
        self.bias = None if bias is None else bias.float().contiguous()
        q_pos = q.float().permute(2, 3, 0, 1).reshape(a * a, k, c).contiguous()
        self.flat = _flat_transforms(tf, torch.device("cpu"), torch.float32)
        self.density = float((q_pos != 0).float().mean())
        if self.strategy == "compiled":
            self.csr = native.CsrWeights(q)
            self.bt, self.at = (t.float().contiguous() for t in (tf.BT, tf.AT))
            self._scratch = threading.local()  # the kernel's workspace, one per calling thread
        elif self.strategy == "dense":
            self.q_pos = q_pos
        elif self.strategy == "compact":
            self.parts = []
            for s in range(a * a):
                rows = q_pos[s].ne(0).any(dim=1).nonzero().flatten()
                cols = q_pos[s].ne(0).any(dim=0).nonzero().flatten()
                self.parts.append((rows, cols, q_pos[s][rows][:, cols].contiguous()))
        else:
            self.q_csr = _block_diagonal_csr(q_pos)

    def _products(self, v: torch.Tensor) -> torch.Tensor:
        """M (a*a, K, P) from V (a*a, C, P)."""
        if self.strategy == "dense":
            return torch.bmm(self.q_pos, v)
        if self.strategy == "csr":
            aa, c, p = v.shape
            return torch.sparse.mm(self.q_csr, v.view(aa * c, p)).view(aa, self.k, p)
        out = v.new_zeros((v.shape[0], self.k, v.shape[2]))
        for s, (rows, cols, qs) in enumerate(self.parts):
            if rows.numel() == 0:
                continue
            if rows.numel() == self.k and cols.numel() == self.c:
                torch.mm(qs, v[s], out=out[s])
            else:
                out[s].index_copy_(0, rows, qs @ v[s].index_select(0, cols))
        return out

    def output_shape(self, shape: torch.Size) -> torch.Size:
        """(N, K, Ho, Wo) for an input of shape (N, C, H, W)."""
        grow = 2 * self.padding - self.tf.r + 1
        ho, wo = shape[2] + grow, shape[3] + grow
        return torch.Size((shape[0], self.k, *((ho // 2, wo // 2) if self.pool else (ho, wo))))

    def __call__(self, x: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """y (N, K, Ho, Wo) of x (N, C, H, W) float32 (then ReLU and pooled when ``relu``,
        ``pool``); the compiled strategy writes it into ``out`` when given (contiguous float32
        of ``output_shape``)."""
        if x.dim() != 4 or x.shape[1] != self.c:
            raise ValueError(f"input: expected (N, {self.c}, H, W), got {tuple(x.shape)}")
        if self.strategy == "compiled":
            x = x.float().contiguous()
            scratch = self._scratch.__dict__  # a thread's own attributes: its own workspace
            return native.conv(
                x,
                self.csr,
                self.bias,
                self.bt,
                self.at,
                self.padding,
                self.relu,
                None,
                scratch,
                out,
                self.pool,
            )
        y = self._torch_conv(x).relu_() if self.relu else self._torch_conv(x)
        return F.max_pool2d(y, 2, 2) if self.pool else y

    def _torch_conv(self, x: torch.Tensor) -> torch.Tensor:
        tf, pad = self.tf, self.padding
        m, a, r = tf.m, tf.alpha, tf.r
        n, c, h, w = x.shape
        ho, wo = h + 2 * pad - r + 1, w + 2 * pad - r + 1
        if ho < 1 or wo < 1:
            raise ValueError(f"input: spatial size {(h, w)} is smaller than the {r}x{r} kernel")
        th, tw = -(-ho // m), -(-wo // m)
        hp, wp = th * m + r - 1, tw * m + r - 1
        xp = F.pad(x, (pad, wp - w - pad, pad, hp - h - pad)).contiguous()
        out = torch.empty((n, self.k, th * m, tw * m), dtype=x.dtype)
        per_image = a * a * th * tw * max(c, self.k) * 4
        size = max(1, CHUNK_BYTES // per_image)
        sn, sc, sh, sw = xp.stride()
        for n0 in range(0, n, size):
            nb = min(size, n - n0)
            view = xp[n0 : n0 + nb].as_strided(
                (a, a, c, nb, th, tw),
                (sh, sw, sc, sn, m * sh, m * sw),
                xp.storage_offset() + n0 * sn,
            )
            d = view.contiguous().view(a * a, -1)
            v = self.flat.in_t @ d if a <= 4 else separable_transform(self.flat.bt, d)
            p = nb * th * tw
            prod = self._products(v.view(a * a, c, p))
            y_tiles = self.flat.out_t @ prod.view(a * a, -1)  # (m*m, K*P)
            src = y_tiles.view(m, m, self.k, nb, th, tw).permute(3, 2, 4, 0, 5, 1)
            dst = out[n0 : n0 + nb].view(nb, self.k, th, m, tw, m)
            if self.bias is None:
                dst.copy_(src)
            else:
                torch.add(src, self.bias.view(1, -1, 1, 1, 1, 1), out=dst)
        if (th * m, tw * m) != (ho, wo):
            return out[:, :, :ho, :wo].contiguous()
        return out
