"""Toom-Cook generation of Winograd transforms F(m x m, r x r) in exact rational arithmetic.

For an output tile of m, a kernel of r and an input tile of ``alpha = m + r - 1``::

    Y = AT @ ((G @ g @ G.T) * (BT @ d @ BT.T)) @ AT.T        (2-D)

computes the valid cross-correlation of the alpha x alpha input tile ``d`` with the r x r kernel
``g``. The construction is the transpose of Toom-Cook polynomial multiplication: with ``E_k`` the
(alpha x k) evaluation matrix of degree < k polynomials at the points and ``V = E_alpha``, the 1-D
correlation is ``y = E_m^T [(E_r g) * (V^-T d)]``. Rows are then rescaled so that the fractions
live in G (Lavin & Gray 2016): ``G = N^-1 E_r``, ``BT = N V^-T``, ``AT = E_m^T``, with
``N_j = prod_{l != j} (p_j - p_l)`` over the finite points (1 for the point at infinity, and the
first row's sign made positive). For the default points this reproduces Lavin's F(4,3) matrices
exactly and F(2,3) up to the sign of the infinity row (paper-spec section 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache

import torch

INF = "inf"
Point = Fraction | str  # a finite rational point or the string "inf"

# Finite points in order of preference: small and symmetric, as in Lavin (F(2,3), F(4,3)) and the
# {0, +-1, +-2, +-1/2} family that Barabasz et al. find well conditioned for F(6,3).
# F(m, r) takes the first alpha - 1 of them, then the point at infinity.
PREFERRED_POINTS: tuple[Fraction, ...] = tuple(
    Fraction(p)
    for p in ("0", "1", "-1", "2", "-2", "1/2", "-1/2", "3", "-3", "1/3", "-1/3", "4", "-4", "1/4")
)
MAX_ALPHA = len(PREFERRED_POINTS) + 1

Matrix = list[list[Fraction]]


@dataclass(frozen=True)
class WinogradTransform:
    """F(m x m, r x r): ``AT`` (m x alpha), ``G`` (alpha x r), ``BT`` (alpha x alpha).

    The float64 tensors are exact images of the rational matrices kept in ``*_exact``.
    """

    m: int
    r: int
    points: tuple[Point, ...]
    AT_exact: tuple[tuple[Fraction, ...], ...] = field(repr=False)
    G_exact: tuple[tuple[Fraction, ...], ...] = field(repr=False)
    BT_exact: tuple[tuple[Fraction, ...], ...] = field(repr=False)

    @property
    def alpha(self) -> int:
        return self.m + self.r - 1

    @property
    def name(self) -> str:
        return f"F({self.m},{self.r})"

    @property
    def AT(self) -> torch.Tensor:
        return _to_tensor(self.AT_exact)

    @property
    def G(self) -> torch.Tensor:
        return _to_tensor(self.G_exact)

    @property
    def BT(self) -> torch.Tensor:
        return _to_tensor(self.BT_exact)

    def point_labels(self) -> list[str]:
        return [str(p) for p in self.points]


def _to_tensor(rows: tuple[tuple[Fraction, ...], ...]) -> torch.Tensor:
    return torch.tensor([[float(x) for x in row] for row in rows], dtype=torch.float64)


def parse_point(p: object) -> Point:
    """Accept a Fraction, int, float, numeric string ("1/2", "-2") or infinity ("inf", math.inf)."""
    if isinstance(p, str):
        s = p.strip().lower()
        if s in ("inf", "infinity", "∞", "+inf"):
            return INF
        try:
            return Fraction(s)
        except ValueError:
            raise ValueError(f"points: {p!r} is not a number, a fraction or 'inf'") from None
    if isinstance(p, float) and math.isinf(p):
        if p < 0:
            raise ValueError("points: use +inf for the point at infinity, not -inf")
        return INF
    if isinstance(p, Fraction | int | float):
        if isinstance(p, float) and math.isnan(p):
            raise ValueError("points: NaN is not an interpolation point")
        return Fraction(p)
    raise ValueError(f"points: {p!r} is not a number, a fraction or 'inf'")


def default_points(m: int, r: int) -> tuple[Point, ...]:
    """Default points for F(m, r): alpha - 1 finite points, small and symmetric, then infinity."""
    n_finite = m + r - 2
    if n_finite > len(PREFERRED_POINTS):
        raise ValueError(f"alpha: F({m},{r}) needs alpha = {m + r - 1} <= {MAX_ALPHA}")
    return (*PREFERRED_POINTS[:n_finite], INF)


def cook_toom(
    m: int, r: int, points: list[object] | tuple[object, ...] | None = None
) -> WinogradTransform:
    """Build F(m x m, r x r) by Toom-Cook from ``alpha = m + r - 1`` interpolation points.

    ``points`` may contain the point at infinity ("inf") at most once; by default it is the last
    of ``default_points(m, r)``. Raises ValueError on m < 1, r < 1, alpha > 15, a wrong number
    of points or duplicate points.
    """
    if not isinstance(m, int) or m < 1:
        raise ValueError(f"m: the output tile size must be an integer >= 1, got {m!r}")
    if not isinstance(r, int) or r < 1:
        raise ValueError(f"r: the kernel size must be an integer >= 1, got {r!r}")
    alpha = m + r - 1
    if alpha > MAX_ALPHA:
        raise ValueError(f"alpha: m + r - 1 = {alpha} exceeds the supported maximum {MAX_ALPHA}")
    pts = default_points(m, r) if points is None else tuple(parse_point(p) for p in points)
    return _cook_toom_cached(m, r, pts)


@lru_cache(maxsize=64)
def _cook_toom_cached(m: int, r: int, pts: tuple[Point, ...]) -> WinogradTransform:
    alpha = m + r - 1
    if len(pts) != alpha:
        raise ValueError(
            f"points: F({m},{r}) needs alpha = m + r - 1 = {alpha} points, got {len(pts)}"
        )
    if len(set(pts)) != len(pts):
        dupes = sorted({str(p) for p in pts if pts.count(p) > 1})
        raise ValueError(f"points: interpolation points must be distinct, repeated: {dupes}")
    # infinity always goes last so that the matrices have a stable layout
    finite = [p for p in pts if p != INF]
    ordered: list[Point] = list(finite) + ([INF] if len(finite) < alpha else [])

    e_r = _evaluation(ordered, r)
    e_m = _evaluation(ordered, m)
    vt_inv = _transpose(_inverse(_evaluation(ordered, alpha)))
    scale = _row_scales(ordered)
    g = [[x / scale[j] for x in e_r[j]] for j in range(alpha)]
    bt = [[x * scale[j] for x in vt_inv[j]] for j in range(alpha)]
    at = _transpose(e_m)
    return WinogradTransform(
        m=m,
        r=r,
        points=tuple(ordered),
        AT_exact=tuple(tuple(row) for row in at),
        G_exact=tuple(tuple(row) for row in g),
        BT_exact=tuple(tuple(row) for row in bt),
    )


def _evaluation(points: list[Point], k: int) -> Matrix:
    """Rows ``[p^0, ..., p^(k-1)]`` per finite point; ``e_(k-1)`` (leading coefficient) for inf."""
    rows: Matrix = []
    for p in points:
        if p == INF:
            rows.append([Fraction(0)] * (k - 1) + [Fraction(1)])
        else:
            assert isinstance(p, Fraction)
            rows.append([p**i for i in range(k)])
    return rows


def _row_scales(points: list[Point]) -> list[Fraction]:
    finite = [p for p in points if p != INF]
    scales: list[Fraction] = []
    for p in points:
        if p == INF:
            scales.append(Fraction(1))
            continue
        assert isinstance(p, Fraction)
        n = Fraction(1)
        for q in finite:
            if q != p:
                assert isinstance(q, Fraction)
                n *= p - q
        scales.append(n)
    if scales and scales[0] < 0:
        scales[0] = -scales[0]
    return scales


def _transpose(a: Matrix) -> Matrix:
    return [list(col) for col in zip(*a, strict=True)]


def _inverse(a: Matrix) -> Matrix:
    """Exact Gauss-Jordan inverse over the rationals."""
    n = len(a)
    aug = [list(row) + [Fraction(int(i == j)) for j in range(n)] for i, row in enumerate(a)]
    for col in range(n):
        pivot = next((i for i in range(col, n) if aug[i][col] != 0), None)
        if pivot is None:
            raise ValueError("points: the evaluation matrix is singular (repeated points?)")
        aug[col], aug[pivot] = aug[pivot], aug[col]
        inv_p = 1 / aug[col][col]
        aug[col] = [x * inv_p for x in aug[col]]
        for i in range(n):
            if i != col and aug[i][col] != 0:
                f = aug[i][col]
                aug[i] = [x - f * y for x, y in zip(aug[i], aug[col], strict=True)]
    return [row[n:] for row in aug]


def standard_transform(name: str | WinogradTransform) -> WinogradTransform:
    """Look up a transform by its name: "F(2,3)", "F(4,3)", "F(6,3)", "F(4,5)" or "2x3" style
    (a WinogradTransform, e.g. one with chosen points, is returned as it is)."""
    if isinstance(name, WinogradTransform):
        return name
    s = name.strip().upper().replace(" ", "")
    for prefix in ("F(", "F"):
        if s.startswith(prefix):
            s = s[len(prefix) :]
    s = s.rstrip(")").replace("X", ",")
    parts = s.split(",")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise ValueError(f"tile: {name!r} is not of the form F(m,r), e.g. F(4,3)")
    return cook_toom(int(parts[0]), int(parts[1]))
