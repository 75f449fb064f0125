"""Compressed storage of Winograd weights Q (K, C, a, a) in an export, per Winograd position.

Two layouts; the export keeps the smaller for each layer:

- ``kernel-blocks`` (kernel-level zeros dropped as whole (k, c) blocks, the rest block-CSR):
  ``rowptr`` int32 (K+1,) and ``col`` int32 (B,) list the B kernels (k, c) with any nonzero,
  row k's kernels at ``col[rowptr[k]:rowptr[k+1]]``; ``values`` (B, a*a) holds their Q at every
  position s = i * a + j. Spatial-structured pruning zeroes whole kernels, so this fits it.
- ``position-csr`` (one CSR matrix per position, stacked block-diagonally): ``rowptr`` int32
  (a*a*K+1,) over the rows (s, k), ``col`` int32 (nnz,) the channel c, ``values`` (nnz,).
  Unstructured Winograd-direct zeros fit it.

``decode`` returns the dense Q again (exact: zeros and values are copied, never recomputed) after
checking the index arrays, so a damaged export raises ValueError instead of reading out of range.
"""

from __future__ import annotations

import torch

LAYOUTS = ("kernel-blocks", "position-csr")


def _csr(dense: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(rowptr, col) of the nonzero pattern of a 2-D bool tensor, row-major."""
    counts = dense.sum(dim=1)
    rowptr = torch.zeros(dense.shape[0] + 1, dtype=torch.int64)
    rowptr[1:] = counts.cumsum(0)
    col = dense.nonzero()[:, 1]
    return rowptr.to(torch.int32), col.to(torch.int32)


def encode(q: torch.Tensor) -> tuple[str, dict[str, torch.Tensor]]:
    """(layout, tensors) of Q (K, C, a, a) float32: the smaller of the two layouts."""
    k, c, a, _ = q.shape
    per_pos = q.reshape(k, c, a * a)
    alive = (per_pos != 0).any(dim=2)  # (K, C) kernels with a nonzero
    nnz = int((q != 0).sum())
    blocks = int(alive.sum())
    block_bytes = blocks * (a * a * 4 + 4) + (k + 1) * 4
    csr_bytes = nnz * 8 + (a * a * k + 1) * 4
    if block_bytes <= csr_bytes:
        rowptr, col = _csr(alive)
        values = per_pos[alive].contiguous()  # (B, a*a), row-major over (k, c)
        return "kernel-blocks", {"rowptr": rowptr, "col": col, "values": values}
    by_pos = per_pos.permute(2, 0, 1).reshape(a * a * k, c)  # rows (s, k)
    rowptr, col = _csr(by_pos != 0)
    return "position-csr", {"rowptr": rowptr, "col": col, "values": by_pos[by_pos != 0]}


def _check_index(rowptr: torch.Tensor, col: torch.Tensor, rows: int, cols: int, what: str) -> None:
    if rowptr.dtype != torch.int32 or col.dtype != torch.int32:
        raise ValueError(f"{what}: index arrays must be int32")
    if rowptr.shape != (rows + 1,):
        raise ValueError(f"{what}: rowptr has shape {tuple(rowptr.shape)}, expected ({rows + 1},)")
    steps = rowptr[1:].long() - rowptr[:-1].long()
    if int(rowptr[0]) != 0 or bool((steps < 0).any()) or int(rowptr[-1]) != col.numel():
        raise ValueError(f"{what}: rowptr is not a valid CSR row pointer for {col.numel()} entries")
    if col.numel() and (int(col.min()) < 0 or int(col.max()) >= cols):
        raise ValueError(f"{what}: column index out of range [0, {cols})")


def decode(
    layout: str, tensors: dict[str, torch.Tensor], k: int, c: int, a: int, what: str
) -> torch.Tensor:
    """Dense Q (K, C, a, a) float32 from ``encode``'s tensors; ValueError naming ``what``."""
    if layout not in LAYOUTS:
        raise ValueError(f"{what}: unknown storage layout {layout!r}; known: {LAYOUTS}")
    rowptr, col, values = tensors["rowptr"], tensors["col"], tensors["values"]
    if layout == "kernel-blocks":
        _check_index(rowptr, col, k, c, what)
        if values.shape != (col.numel(), a * a):
            raise ValueError(f"{what}: values shape {tuple(values.shape)} does not match the index")
        rows = torch.repeat_interleave(torch.arange(k), (rowptr[1:] - rowptr[:-1]).long())
        q = torch.zeros(k, c, a * a, dtype=values.dtype)
        q[rows, col.long()] = values
        return q.view(k, c, a, a)
    _check_index(rowptr, col, a * a * k, c, what)
    if values.shape != (col.numel(),):
        raise ValueError(f"{what}: values shape {tuple(values.shape)} does not match the index")
    rows = torch.repeat_interleave(torch.arange(a * a * k), (rowptr[1:] - rowptr[:-1]).long())
    by_pos = torch.zeros(a * a * k, c, dtype=values.dtype)
    by_pos[rows, col.long()] = values
    return by_pos.view(a * a, k, c).permute(1, 2, 0).reshape(k, c, a, a).contiguous()
