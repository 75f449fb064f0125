"""Summation order and precision of Winograd layers (Barabasz, Anderson, Soodhalter, Gregg).

Two layer options (related-methods-spec 4.4), both forward-pass numerics only (the backward
pass is the same linear map and keeps the default kernels):

- ``channel_sum``: how ``M_s = sum_c Q_s,c * V_s,c`` accumulates over the C input channels:
  ``blas`` (one batched GEMM, the library's order), ``pairwise`` (a balanced binary tree over
  c, depth ceil(log2 C)) or ``float64`` (the GEMM in float64, rounded once).
- ``order``: the summation order of every dot product of the input and output transforms
  (``BT d B``, ``AT M A``): ``natural`` (the GEMM's) or ``huffman``: per matrix row, the products
  ``a_j x_j`` are leaves keyed by ``log2|a_j|``; the two smallest keys are added first and their
  sum is pushed back with the sum of the two keys (the authors' code, utils.h). The tree depends
  only on the row, so it is built once per matrix.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, TypeVar

import torch

ChannelSum = Literal["blas", "pairwise", "float64"]
TransformOrder = Literal["natural", "huffman"]
CHANNEL_SUMS: tuple[ChannelSum, ...] = ("blas", "pairwise", "float64")
TRANSFORM_ORDERS: tuple[TransformOrder, ...] = ("natural", "huffman")
PAIRWISE_CHUNK_BYTES = 64 * 2**20  # the (a*a, K, P', C) products of one pairwise chunk

# a row's summation plan: the nonzero columns (leaves, in order) and the additions; node i < L
# is leaf i, node L + t is the result of addition t
Plan = tuple[tuple[int, ...], tuple[tuple[int, int], ...]]
T = TypeVar("T")


@dataclass(frozen=True)
class Summation:
    """The accuracy options of a Winograd layer (module docstring)."""

    channel_sum: ChannelSum = "blas"
    order: TransformOrder = "natural"

    def __post_init__(self) -> None:
        if self.channel_sum not in CHANNEL_SUMS:
            raise ValueError(
                f"channel_sum: must be one of {CHANNEL_SUMS}, got {self.channel_sum!r}"
            )
        if self.order not in TRANSFORM_ORDERS:
            raise ValueError(f"order: must be one of {TRANSFORM_ORDERS}, got {self.order!r}")

    @property
    def is_default(self) -> bool:
        return self == Summation()


DEFAULT_SUMMATION = Summation()


def huffman_plan(row: Sequence[float]) -> Plan:
    """The Huffman summation tree of one matrix row (zero coefficients are left out).

    Ties are broken by creation order, so the plan is deterministic."""
    leaves = tuple(j for j, a in enumerate(row) if a != 0)
    heap = [(math.log2(abs(row[j])), node, node) for node, j in enumerate(leaves)]
    heapq.heapify(heap)
    ops: list[tuple[int, int]] = []
    next_node = len(leaves)
    while len(heap) > 1:
        key_a, _, a = heapq.heappop(heap)
        key_b, _, b = heapq.heappop(heap)
        ops.append((a, b))
        heapq.heappush(heap, (key_a + key_b, next_node, next_node))
        next_node += 1
    return leaves, tuple(ops)


def natural_plan(row: Sequence[float]) -> Plan:
    """Left-to-right recursive summation over the nonzero coefficients of a row."""
    leaves = tuple(j for j, a in enumerate(row) if a != 0)
    ops = [(0, 1)] if len(leaves) > 1 else []
    ops += [(len(leaves) + t - 1, t + 1) for t in range(1, len(leaves) - 1)]
    return leaves, tuple(ops)


def evaluate_plan(plan: Plan, coef: Sequence[T], x: Sequence[T], zero: T) -> T:
    """``sum_j coef[j] * x[j]`` in the plan's order; works for Fractions, floats and tensors."""
    leaves, ops = plan
    if not leaves:
        return zero
    values = [coef[j] * x[j] for j in leaves]  # type: ignore[operator]
    for a, b in ops:
        values.append(values[a] + values[b])
    return values[-1]


@lru_cache(maxsize=256)
def matrix_plans(rows: tuple[tuple[float, ...], ...], order: str) -> tuple[Plan, ...]:
    """The plan of every row of a matrix, cached (the trees depend only on the coefficients)."""
    make: Callable[[Sequence[float]], Plan] = huffman_plan if order == "huffman" else natural_plan
    return tuple(make(row) for row in rows)


def apply_rows(matrix: torch.Tensor, x: torch.Tensor, order: str, dim: int = 0) -> torch.Tensor:
    """``matrix @ x`` along ``dim`` of x, each row summed in ``order`` (natural: left to right,
    huffman: the row's Huffman tree), every operation rounded to x's dtype.

    matrix (n, a) holds the coefficients (rounded to x's dtype); x has size a along ``dim``.
    Natural order runs all rows at once: adding a zero product is exact, so skipping zero
    coefficients (as the plans do) gives the same result."""
    xs = x.movedim(dim, 0)
    coef = matrix.to(dtype=x.dtype, device=x.device)
    if order != "huffman":
        shape = (-1,) + (1,) * (xs.dim() - 1)
        out = coef[:, 0].view(shape) * xs[0]
        for j in range(1, coef.shape[1]):
            out = out + coef[:, j].view(shape) * xs[j]
        return out.movedim(0, dim)
    rows = tuple(tuple(float(v) for v in row) for row in matrix.double().tolist())
    zero = torch.zeros_like(xs[0])
    out_rows = [
        evaluate_plan(plan, list(coef[i]), list(xs), zero)
        for i, plan in enumerate(matrix_plans(rows, order))
    ]
    return torch.stack(out_rows).movedim(0, dim)


def transform_tile_pair(matrix: torch.Tensor, tiles: torch.Tensor, order: str) -> torch.Tensor:
    """``matrix X matrix^T`` of flattened square tiles (a*a, R) -> (n*n, R), in ``order``."""
    a = matrix.shape[1]
    x = tiles.reshape(a, a, -1)
    y = apply_rows(matrix, apply_rows(matrix, x, order, dim=0), order, dim=1)
    return y.reshape(matrix.shape[0] ** 2, -1)


def pairwise_sum(t: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Sum over ``dim`` by a balanced binary tree (each level adds the two halves)."""
    t = t.movedim(dim, -1)
    while t.shape[-1] > 1:
        half = t.shape[-1] // 2
        s = t[..., :half] + t[..., half : 2 * half]
        t = torch.cat([s, t[..., 2 * half :]], dim=-1) if t.shape[-1] % 2 else s
    return t[..., 0]


def channel_product(q_pos: torch.Tensor, v: torch.Tensor, how: str) -> torch.Tensor:
    """``M_s = Q_s V_s^T`` (a*a, K, P) of q_pos (a*a, K, C) and v (a*a, P, C), summed over C
    as ``how`` says (blas, pairwise or float64)."""
    if how == "float64":
        return torch.bmm(q_pos.double(), v.double().transpose(1, 2)).to(q_pos.dtype)
    if how != "pairwise":
        return torch.bmm(q_pos, v.transpose(1, 2))
    a2, k, c = q_pos.shape
    p = v.shape[1]
    out = q_pos.new_empty(a2, k, p)
    step = max(1, PAIRWISE_CHUNK_BYTES // max(1, a2 * k * c * q_pos.element_size()))
    for p0 in range(0, p, step):
        products = q_pos[:, :, None, :] * v[:, None, p0 : p0 + step, :]  # (a*a, K, P', C)
        out[:, :, p0 : p0 + step] = pairwise_sum(products)
    return out
