"""Golden tests of the Toom-Cook generator against paper-spec section 1 and the 1-D identity."""

from __future__ import annotations

import re
from fractions import Fraction

import pytest
import torch

from winoprune.winograd.transforms import cook_toom, standard_transform

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
