"""Golden tests of the Toom-Cook generator against paper-spec section 1 and the 1-D identity."""

from __future__ import annotations

import math
import re
from fractions import Fraction

import pytest
import torch

from winoprune.winograd.transforms import (
    PREFERRED_POINTS,
    cook_toom,
    parse_point,
    standard_transform,
)

LAVIN_43 = {
    "BT": [
        [4, 0, -5, 0, 1, 0],
        [0, -4, -4, 1, 1, 0],
        [0, 4, -4, -1, 1, 0],
        [0, -2, -1, 2, 1, 0],
        [0, 2, -1, -2, 1, 0],
        [0, 4, 0, -5, 0, 1],
    ],
    "G": [
        [Fraction(1, 4), 0, 0],
        [Fraction(-1, 6), Fraction(-1, 6), Fraction(-1, 6)],
        [Fraction(-1, 6), Fraction(1, 6), Fraction(-1, 6)],
        [Fraction(1, 24), Fraction(1, 12), Fraction(1, 6)],
        [Fraction(1, 24), Fraction(-1, 12), Fraction(1, 6)],
        [0, 0, 1],
    ],
    "AT": [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]],
}
LAVIN_23 = {
    "BT": [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
    "G": [
        [1, 0, 0],
        [Fraction(1, 2), Fraction(1, 2), Fraction(1, 2)],
        [Fraction(1, 2), Fraction(-1, 2), Fraction(1, 2)],
        [0, 0, 1],
    ],
    "AT": [[1, 1, 1, 0], [0, 1, -1, -1]],
}


def exact(rows):
    return [[Fraction(x) for x in row] for row in rows]


def test_f43_reproduces_lavin_exactly():
    tf = cook_toom(4, 3)
    assert [list(r) for r in tf.BT_exact] == exact(LAVIN_43["BT"])
    assert [list(r) for r in tf.G_exact] == exact(LAVIN_43["G"])
    assert [list(r) for r in tf.AT_exact] == exact(LAVIN_43["AT"])
    assert tf.alpha == 6 and tf.points[-1] == "inf"


def test_f23_equals_lavin_up_to_the_sign_of_the_infinity_point():
    """Our F(2,3) is the authors' m=4 variant: B^T's last row and A^T's last column flipped."""
    tf = cook_toom(2, 3)
    bt, at = exact(LAVIN_23["BT"]), exact(LAVIN_23["AT"])
    bt[-1] = [-x for x in bt[-1]]
    for row in at:
        row[-1] = -row[-1]
    assert [list(r) for r in tf.BT_exact] == bt
    assert [list(r) for r in tf.G_exact] == exact(LAVIN_23["G"])
    assert [list(r) for r in tf.AT_exact] == at


@pytest.mark.parametrize(
    ("m", "r"), [(2, 3), (4, 3), (6, 3), (2, 5), (4, 5), (6, 5), (8, 3), (1, 1)]
)
def test_1d_identity_is_exact_correlation(m, r):
    tf = cook_toom(m, r)
    g = torch.randn(r, dtype=torch.float64)
    d = torch.randn(tf.alpha, dtype=torch.float64)
    y = tf.AT @ ((tf.G @ g) * (tf.BT @ d))
    ref = torch.stack([(g * d[i : i + r]).sum() for i in range(m)])
    assert torch.allclose(y, ref, atol=1e-10, rtol=0)


def test_all_sizes_up_to_alpha_10_work():
    for m in range(1, 9):
        for r in range(1, 11 - m):
            tf = cook_toom(m, r)
            assert tf.AT.shape == (m, tf.alpha) and tf.G.shape == (tf.alpha, r)


def test_the_largest_supported_tile_takes_every_preferred_point():
    """alpha = 15 (the documented maximum): the 14 preferred finite points, then infinity."""
    tf = cook_toom(13, 3)
    assert tf.alpha == 15 and tf.points == (*PREFERRED_POINTS, "inf")
    assert torch.linalg.matrix_rank(tf.BT) == 15


def test_custom_points_with_and_without_infinity():
    with_inf = cook_toom(2, 3, ["0", "1/2", "-1/2", "inf"])
    without = cook_toom(2, 3, [0, 1, -1, 2])
    for tf in (with_inf, without):
        g, d = torch.randn(3, dtype=torch.float64), torch.randn(4, dtype=torch.float64)
        y = tf.AT @ ((tf.G @ g) * (tf.BT @ d))
        ref = torch.stack([(g * d[i : i + 3]).sum() for i in range(2)])
        assert torch.allclose(y, ref, atol=1e-12)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0, 3), "m: the output tile size"),
        ((2, 0), "r: the kernel size"),
        ((2, 3, [0, 1, 1, "inf"]), "must be distinct"),
        ((2, 3, [0, 1, "inf"]), "needs alpha = m + r - 1 = 4 points, got 3"),
        ((2, 3, [0, 1, "x", "inf"]), "'x' is not a number"),
        ((12, 6), "alpha: m + r - 1 = 17 exceeds the supported maximum 15"),
    ],
)
def test_bad_input_names_the_problem(args, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        cook_toom(*args)


def test_standard_names():
    assert standard_transform("F(4,3)") is cook_toom(4, 3)
    assert standard_transform("f(2, 3)").m == 2
    with pytest.raises(ValueError, match="tile"):
        standard_transform("F4")
    for spelling in ("F4x3", "f4,3", "4x3", " F(4, 3) ", "F(4x3)"):
        assert standard_transform(spelling) is cook_toom(4, 3)


# chosen point sets where the first point's N_0 = prod (p_0 - p_l) is positive and below 1,
# negative, or above 1, with and without the point at infinity
SCALED_POINTS = [
    (2, 3, ["0", "1/2", "1/3", "inf"]),
    (2, 3, ["1/2", "1/3", "-1/4", "inf"]),
    (2, 3, ["0", "1/2", "-1/3", "inf"]),
    (2, 3, ["2", "-1", "3", "1/2"]),
    (4, 3, ["0", "1", "-1", "2", "-2", "inf"]),
]


@pytest.mark.parametrize(("m", "r", "points"), SCALED_POINTS)
def test_rows_are_scaled_by_n_with_the_first_scale_positive(m, r, points):
    """G = N^-1 E_r, BT = N V^-T and AT = E_m^T (module docstring), checked in Fractions
    without an inverse: V^T N^-1 BT = I. N_j = prod_(l != j) (p_j - p_l), |N_0|, 1 for inf."""
    tf = cook_toom(m, r, points)
    pts = [p if p == "inf" else Fraction(p) for p in points]
    finite = [p for p in pts if p != "inf"]
    assert list(tf.points) == pts  # infinity (given last here) keeps the order

    def row(p, k):
        return (
            [Fraction(int(i == k - 1)) for i in range(k)]
            if p == "inf"
            else [p**i for i in range(k)]
        )

    scale = [
        Fraction(1)
        if p == "inf"
        else math.prod((p - q for q in finite if q != p), start=Fraction(1))
        for p in pts
    ]
    scale[0] = abs(scale[0])
    alpha = tf.alpha
    assert [list(x) for x in tf.G_exact] == [
        [x / scale[j] for x in row(p, r)] for j, p in enumerate(pts)
    ]
    assert [list(x) for x in tf.AT_exact] == [list(c) for c in zip(*(row(p, m) for p in pts))]
    v = [row(p, alpha) for p in pts]
    product = [
        [sum((v[k][i] * tf.BT_exact[k][j] / scale[k] for k in range(alpha)), Fraction(0))
         for j in range(alpha)]
        for i in range(alpha)
    ]  # fmt: skip
    assert product == [[Fraction(int(i == j)) for j in range(alpha)] for i in range(alpha)]


def test_parse_point_reads_floats_fractions_and_every_spelling_of_infinity():
    """Floats are exact rationals (0.5 is 1/2, 2.0 is 2), never the point at infinity; -inf
    and NaN are refused naming the field."""
    assert [parse_point(p) for p in (0.5, 2.0, -1.5, 3, Fraction(1, 3), " -1/2 ")] == [
        Fraction(1, 2),
        Fraction(2),
        Fraction(-3, 2),
        Fraction(3),
        Fraction(1, 3),
        Fraction(-1, 2),
    ]
    for spelling in ("inf", "Infinity", "∞", "+inf", " +INF ", math.inf):
        assert parse_point(spelling) == "inf"
    assert cook_toom(2, 3, [0, 1, -1, 2.0]).points == tuple(Fraction(p) for p in (0, 1, -1, 2))
    for bad, message in ((-math.inf, "points: use +inf"), (math.nan, "points: NaN")):
        with pytest.raises(ValueError, match=re.escape(message)):
            parse_point(bad)
