"""Additions, multiplications and an energy estimate per image of one conv layer.

Per-operation energies: M. Horowitz, "Computing's energy problem (and what we can do about
it)", ISSCC 2014, 45 nm process: a 32-bit float add 0.9 pJ, a 32-bit float multiply 3.7 pJ
(memory traffic is not counted). ``energy_pj = 3.7 * multiplications + 0.9 * additions``, where
``multiplications`` here includes the transforms' (entries other than 0 and +-1; the weight
transform G g G^T is done once offline and not counted).

Counting rules (ours; the sources give none beyond spec 3.2's per-tile figures):

- direct conv: ``K C r^2 Ho Wo`` products, as many additions (one accumulation per product);
- Winograd conv: the element-wise products (``nnz(Q) * tiles``), one accumulation each, plus the
  input transform ``BT d B`` per (channel, tile) and the output transform ``AT M A`` per
  (output channel, tile); a transform row with j nonzeros costs j - 1 additions per column;
- adder conv (AdderNet): ``K C r^2 Ho Wo`` terms, each one subtraction and one accumulation
  (2 additions); |.| clears a sign bit and is not counted; no multiplications;
- Winograd adder: ``K C a^2 tiles`` terms, 2 additions each, plus the transforms as above; at
  p != 1 each term also costs one multiplication (p = 2 squares; a fractional p during the
  schedule is counted the same, a lower bound). With F(2,3) that is 16 terms per (k, c) and
  2 x 2 outputs against the adder layer's 36 (2.25x fewer, spec 3.2).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

# Horowitz, ISSCC 2014, 45 nm: energy per 32-bit floating-point operation, picojoules
FP32_ADD_PJ = 0.9
FP32_MULT_PJ = 3.7
ENERGY_SOURCE = "Horowitz, ISSCC 2014, 45 nm: fp32 add 0.9 pJ, fp32 mult 3.7 pJ"


@dataclass(frozen=True)
class OperationCount:
    """Additions (incl. subtractions) and multiplications per image."""

    additions: int
    multiplications: int

    def __add__(self, other: OperationCount) -> OperationCount:
        return OperationCount(
            self.additions + other.additions, self.multiplications + other.multiplications
        )

    @property
    def energy_pj(self) -> float:
        return FP32_MULT_PJ * self.multiplications + FP32_ADD_PJ * self.additions


def matrix_ops(matrix: torch.Tensor, columns: int) -> OperationCount:
    """Cost of ``matrix @ X`` for X with ``columns`` columns: per row with j nonzeros j - 1
    additions per column; per entry other than 0 and +-1 one multiplication per column."""
    nonzero = matrix != 0
    adds = int((nonzero.sum(dim=1) - 1).clamp_min(0).sum().item())
    mults = int((nonzero & (matrix.abs() != 1)).sum().item())
    return OperationCount(adds * columns, mults * columns)


def transform_ops(at: torch.Tensor, bt: torch.Tensor, k: int, c: int, tiles: int) -> OperationCount:
    """Input transforms ``BT d B`` of C channels and output transforms ``AT M A`` of K channels
    over ``tiles`` tiles (two 1-D passes each)."""
    m, a = at.shape
    one_input = matrix_ops(bt, a) + matrix_ops(bt, a)
    one_output = matrix_ops(at, a) + matrix_ops(at, m)
    total = c * tiles
    out = k * tiles
    return OperationCount(
        one_input.additions * total + one_output.additions * out,
        one_input.multiplications * total + one_output.multiplications * out,
    )


def direct_ops(products: int) -> OperationCount:
    """A direct conv of ``products`` products: one accumulation each."""
    return OperationCount(products, products)


def winograd_ops(
    products: int, at: torch.Tensor, bt: torch.Tensor, k: int, c: int, tiles: int
) -> OperationCount:
    """A Winograd conv of ``products`` element-wise products, with its transforms."""
    return direct_ops(products) + transform_ops(at, bt, k, c, tiles)


def adder_ops(terms: int) -> OperationCount:
    """An adder conv of ``terms = K C r^2 Ho Wo`` terms: a subtraction and an accumulation each."""
    return OperationCount(2 * terms, 0)


def winograd_adder_ops(
    at: torch.Tensor, bt: torch.Tensor, k: int, c: int, tiles: int, p: float
) -> OperationCount:
    """A Winograd adder layer: ``K C a^2 tiles`` terms and the transforms (see the module)."""
    a = bt.shape[0]
    terms = k * c * a * a * tiles
    kernel = OperationCount(2 * terms, 0 if p == 1.0 else terms)
    return kernel + transform_ops(at, bt, k, c, tiles)
