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
# tile rows of at most this many tiles keep channels innermost in the output-side tile tensors:
# the (m*m, K, P) scatter and gather copy runs of only tw elements (measured: tw <= 4 is faster
# with (m*m, P, K), tw >= 8 with (m*m, K, P))
CHANNELS_INNER_MAX_TW = 4


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


def channels_inner_tiles(geo: Geometry) -> bool:
    """Whether the output-side tiles of this call are laid out (m*m, P, K), not (m*m, K, P)."""
    return geo.tw <= CHANNELS_INNER_MAX_TW


def input_tiles(xp: torch.Tensor, geo: Geometry) -> torch.Tensor:
    """The overlapping a x a tiles of the padded input xp gathered into D (a*a, P, C)."""
    tiles = tile_view(xp, (geo.a, geo.a), geo.m, (geo.th, geo.tw))
    return tiles.contiguous().view(geo.a * geo.a, geo.tiles, geo.c)


def write_output(
    y_tiles: torch.Tensor,
    bias: torch.Tensor | None,
    geo: Geometry,
    out: torch.Tensor,
    *,
    channels_inner: bool = False,
) -> None:
    """Scatter m x m output tiles (m*m, K, P), or (m*m, P, K) with ``channels_inner``, into out
    (n, K, th*m, tw*m), adding the bias."""
    m, k = geo.m, geo.k
    dst = out.view(geo.n, k, geo.th, m, geo.tw, m)
    if channels_inner:
        src = y_tiles.view(m, m, geo.n, geo.th, geo.tw, k).permute(2, 5, 3, 0, 4, 1)
    else:
        src = y_tiles.view(m, m, k, geo.n, geo.th, geo.tw).permute(3, 2, 4, 0, 5, 1)
    if bias is None:
        dst.copy_(src)
    else:
        torch.add(src, bias.view(1, k, 1, 1, 1, 1), out=dst)


def grad_tiles(
    grad_y: torch.Tensor, geo: Geometry, *, channels_inner: bool = False
) -> torch.Tensor:
    """The (tile-padded) output gradient cut into m x m tiles (m*m, K, P), or (m*m, P, K) with
    ``channels_inner``."""
    tiles = tile_view(grad_y, (geo.m, geo.m), geo.m, (geo.th, geo.tw))
    if channels_inner:
        return tiles.contiguous().view(geo.m * geo.m, geo.tiles, geo.k)
    return tiles.permute(0, 1, 5, 2, 3, 4).contiguous().view(geo.m * geo.m, geo.k, geo.tiles)


def overlap_add(d_tiles: torch.Tensor, geo: Geometry, out: torch.Tensor) -> None:
    """Sum the gradients of overlapping input tiles (a, a, n, th, tw, C) into out (n, C, H, W).

    Tiles overlap by r - 1. The sum is formed in a blocked buffer (m, m, n, bh, bw, C) whose
    element [u, v, n, i, j, c] is padded position (i*m + u, j*m + v): the a x a tile splits into
    m x m blocks, and each block adds to a shifted slice of the buffer with contiguous channel
    runs (a col2im). Copies then unblock it and crop the padding. When the tiles' blocks are
    the output (``_overlap_add_aligned``) the sum is formed in d_tiles instead, which it
    overwrites.
    """
    m, a, th, tw = geo.m, geo.a, geo.th, geo.tw
    if (th * m, tw * m) == (geo.h, geo.w) and geo.pad <= a - m and out.is_contiguous():
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
    """``overlap_add`` when the tiles' m x m blocks are the output (th * m = H, tw * m = W:
    'same' padding of whole tiles) and pad <= a - m, summed in place in d_tiles (overwritten).

    Tile positions ``pad .. pad + m - 1`` (the main segment) cover every output position once,
    so each other (lo, hi) segment of tile t is added onto the main columns of tile
    t + offset - 1 (clipped to the output), then the same along rows for the main columns
    only, and one copy unblocks the main m x m blocks into out: no buffer to zero, no padding
    rows summed and cropped.
    """
    m, pad = geo.m, geo.pad
    main = slice(pad, pad + m)
    others = [s for s in _segments(geo.a, m, pad) if s[0] != pad]
    for lo, hi, offset, u0 in others:  # columns: (a, a, n, th, tw, C) along dims 1 and 4
        src, dst = _shifted(geo.tw, offset - 1)
        target = d_tiles[:, pad + u0 : pad + u0 + hi - lo, :, :, dst]
        target.add_(d_tiles[:, lo:hi, :, :, src])
    for lo, hi, offset, u0 in others:  # rows, of the main columns only: dims 0 and 3
        src, dst = _shifted(geo.th, offset - 1)
        target = d_tiles[pad + u0 : pad + u0 + hi - lo, main, :, dst]
        target.add_(d_tiles[lo:hi, main, :, src])
    blocks = out.view(geo.n, geo.c, geo.th, m, geo.tw, m)
    blocks.copy_(d_tiles[main, main].permute(2, 5, 3, 0, 4, 1))


def _shifted(tiles: int, shift: int) -> tuple[slice, slice]:
    """(source, destination) tile ranges of a shift by ``shift`` tiles, clipped to [0, tiles)."""
    return slice(max(0, -shift), min(tiles, tiles - shift)), slice(
        max(0, shift), min(tiles, tiles + shift)
    )
