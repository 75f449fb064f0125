"""Tiling for the Winograd convolution: call geometry, batch chunks, strided tile views, the
output scatter and the overlap-add of input-tile gradients (see ``functional`` for the layout)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from winoprune.winograd.transforms import WinogradTransform

# batch chunk size: measured best at 2 MiB on a 2-core EPYC (1 MiB L2 per core)
CHUNK_BYTES = 2 << 20
GPU_CHUNK_BYTES = 1 << 30
MIN_CHUNK_TILES = 256


def output_size(size: int, r: int, padding: int) -> int:
    """Output length of a stride-1 convolution: ``size + 2 * padding - r + 1``."""
    return size + 2 * padding - r + 1


@dataclass(frozen=True)
class Geometry:
    """Sizes of one call: input, output, tiles and the zero-padded input they cover."""

    n: int
    c: int
    k: int
    h: int
    w: int
    pad: int
    m: int
    a: int
    ho: int
    wo: int
    th: int
    tw: int

    @property
    def tiles(self) -> int:
        return self.n * self.th * self.tw

    @property
    def padded(self) -> tuple[int, int]:
        """(Hp, Wp): the input padded to whole tiles, ``tiles * m + r - 1``."""
        r = self.a - self.m + 1
        return self.th * self.m + r - 1, self.tw * self.m + r - 1


def geometry(x: torch.Tensor, q: torch.Tensor, tf: WinogradTransform, pad: int) -> Geometry:
    n, c, h, w = x.shape
    ho, wo = output_size(h, tf.r, pad), output_size(w, tf.r, pad)
    m = tf.m
    return Geometry(n, c, q.shape[0], h, w, pad, m, tf.alpha, ho, wo, -(-ho // m), -(-wo // m))


def memory_format(x: torch.Tensor) -> torch.memory_format:
    """Follow the input's layout, as F.conv2d does (channels-last in, channels-last out)."""
    if (
        x.dim() == 4
        and not x.is_contiguous()
        and x.is_contiguous(memory_format=torch.channels_last)
    ):
        return torch.channels_last
    return torch.contiguous_format


def tile_view(
    t: torch.Tensor, size: tuple[int, int], step: int, tiles: tuple[int, int]
) -> torch.Tensor:
    """(size_h, size_w, N, tiles_h, tiles_w, C) strided view of t (N, C, H, W); no copy.

    Element [p, q, n, i, j, c] is ``t[n, c, i * step + p, j * step + q]``; tiles may overlap.
    """
    sn, sc, sh, sw = t.stride()
    shape = (size[0], size[1], t.shape[0], tiles[0], tiles[1], t.shape[1])
    strides = (sh, sw, sn, step * sh, step * sw, sc)
    return t.as_strided(shape, strides, t.storage_offset())


def batch_chunks(geo: Geometry, itemsize: int, device: torch.device) -> list[tuple[int, Geometry]]:
    """Split the batch so that one chunk's transformed tiles take about CHUNK_BYTES (CPU) or at
    most GPU_CHUNK_BYTES (other devices).

    On the CPU the tile tensors, several times the size of the input, stay in cache chunk by
    chunk and are recycled by the allocator instead of being page-faulted in afresh on every
    call. On a GPU each chunk costs a dozen kernel launches, so a training step of small chunks
    is bound by the launches: there one chunk holds the batch unless that exceeds 1 GiB.
    """
    per_image = geo.a * geo.a * geo.th * geo.tw * max(geo.c, geo.k) * itemsize
    budget = CHUNK_BYTES if device.type == "cpu" else GPU_CHUNK_BYTES
    size = max(1, budget // per_image, -(-MIN_CHUNK_TILES // (geo.th * geo.tw)))
    return [(n0, replace(geo, n=min(size, geo.n - n0))) for n0 in range(0, geo.n, size)]


def input_tiles(xp: torch.Tensor, geo: Geometry) -> torch.Tensor:
    """The overlapping a x a tiles of the padded input xp gathered into D (a*a, P, C)."""
    tiles = tile_view(xp, (geo.a, geo.a), geo.m, (geo.th, geo.tw))
    return tiles.contiguous().view(geo.a * geo.a, geo.tiles, geo.c)


def write_output(
    y_tiles: torch.Tensor, bias: torch.Tensor | None, geo: Geometry, out: torch.Tensor
) -> None:
    """Scatter m x m output tiles (m*m, K, P) into out (n, K, th*m, tw*m), adding the bias."""
    m, k = geo.m, geo.k
    dst = out.view(geo.n, k, geo.th, m, geo.tw, m)
    src = y_tiles.view(m, m, k, geo.n, geo.th, geo.tw).permute(3, 2, 4, 0, 5, 1)
    if bias is None:
        dst.copy_(src)
    else:
        torch.add(src, bias.view(1, k, 1, 1, 1, 1), out=dst)


def grad_tiles(grad_y: torch.Tensor, geo: Geometry) -> torch.Tensor:
    """The (tile-padded) output gradient cut into m x m tiles (m*m, K, P)."""
    tiles = tile_view(grad_y, (geo.m, geo.m), geo.m, (geo.th, geo.tw))
    return tiles.permute(0, 1, 5, 2, 3, 4).contiguous().view(geo.m * geo.m, geo.k, geo.tiles)


def overlap_add(d_tiles: torch.Tensor, geo: Geometry, out: torch.Tensor) -> None:
    """Sum the gradients of overlapping input tiles (a, a, n, th, tw, C) into out (n, C, H, W).

    Tiles overlap by r - 1. The sum is formed in a blocked buffer (m, m, n, bh, bw, C) whose
    element [u, v, n, i, j, c] is padded position (i*m + u, j*m + v): the a x a tile splits into
    m x m blocks, and each block adds to a shifted slice of the buffer with contiguous channel
    runs (a col2im). Copies then unblock it and crop the padding.
    """
    m, a, th, tw = geo.m, geo.a, geo.th, geo.tw
    if geo.h % m == 0 and geo.w % m == 0 and geo.pad <= a - m and out.is_contiguous():
        _overlap_add_aligned(d_tiles, geo, out)
        return
    extra = -(-a // m) - 1  # blocks a tile reaches beyond its own
    blocked = d_tiles.new_empty((m, m, geo.n, th + extra, tw + extra, geo.c))
    if extra:
        blocked[:, :, :, th:].zero_()
        blocked[:, :, :, :th, tw:].zero_()
    for p0 in range(0, a, m):
        for q0 in range(0, a, m):
            part = d_tiles[p0 : p0 + m, q0 : q0 + m]
            i0, j0 = p0 // m, q0 // m
            dst = blocked[: part.shape[0], : part.shape[1], :, i0 : i0 + th, j0 : j0 + tw]
            dst.copy_(part) if p0 == q0 == 0 else dst.add_(part)
    full = out.new_empty((geo.n, geo.c, (th + extra) * m, (tw + extra) * m))
    full.view(geo.n, geo.c, th + extra, m, tw + extra, m).copy_(blocked.permute(2, 5, 3, 0, 4, 1))
    out.copy_(full[:, :, geo.pad : geo.pad + geo.h, geo.pad : geo.pad + geo.w])


def _segments(a: int, m: int, pad: int) -> list[tuple[int, int, int, int]]:
    """(lo, hi, block offset, u0) of the tile rows p in [lo, hi) that land in one output block:
    padded row ``t*m + p`` is output row ``(t + offset - 1) * m + u0 + (p - lo)``."""
    segments = []
    for k in range(-1, a // m + 1):
        lo, hi = max(0, pad + k * m), min(a, pad + (k + 1) * m)
        if lo < hi:
            segments.append((lo, hi, k + 1, lo - pad - k * m))
    return segments


def _overlap_add_aligned(d_tiles: torch.Tensor, geo: Geometry, out: torch.Tensor) -> None:
    """``overlap_add`` for H and W multiples of m (and pad <= a - m): the blocked buffer is
    shifted by the padding (block 1 starts at output row 0), so one copy unblocks it straight
    into out, with no cropped intermediate. The (pad, pad) segment (m x m, every tile) is
    copied, the others added, each into a shifted slice with contiguous channel runs."""
    m, th, tw = geo.m, geo.th, geo.tw
    segments = _segments(geo.a, m, geo.pad)
    bh = th + max(s[2] for s in segments) + 1
    bw = tw + max(s[2] for s in segments) + 1
    blocked = d_tiles.new_empty((m, m, geo.n, bh, bw, geo.c))
    blocked[:, :, :, 0].zero_()
    blocked[:, :, :, 1 + th :].zero_()
    blocked[:, :, :, 1 : 1 + th, 0].zero_()
    blocked[:, :, :, 1 : 1 + th, 1 + tw :].zero_()
    main = (geo.pad, geo.pad + m, 1, 0)
    blocked[:, :, :, 1 : 1 + th, 1 : 1 + tw].copy_(
        d_tiles[geo.pad : geo.pad + m, geo.pad : geo.pad + m]
    )
    for lo_i, hi_i, bi, ui in segments:
        for lo_j, hi_j, bj, uj in segments:
            if (lo_i, hi_i, bi, ui) == main and (lo_j, hi_j, bj, uj) == main:
                continue
            dst = blocked[
                ui : ui + hi_i - lo_i, uj : uj + hi_j - lo_j, :, bi : bi + th, bj : bj + tw
            ]
            dst.add_(d_tiles[lo_i:hi_i, lo_j:hi_j])
    hb, wb = geo.h // m, geo.w // m
    dst_view = out.view(geo.n, geo.c, hb, m, wb, m)
    dst_view.copy_(blocked[:, :, :, 1 : 1 + hb, 1 : 1 + wb].permute(2, 5, 3, 0, 4, 1))
