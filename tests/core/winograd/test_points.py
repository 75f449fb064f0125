"""Named point sets: the exact Winograd identity for every set in both Toom-Cook forms, the
matrix convention (norm products of related-methods-spec 4.2), point parsing and the search."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest

from winoprune.winograd.error_model import norm_product, tile_error
from winoprune.winograd.points import (
    SEARCH_POOL,
    PointSet,
    named_set,
    named_sets,
    parse_exact,
    resolve,
    search_points,
)
from winoprune.winograd.transforms import INF, WinogradTransform, cook_toom

SETS = named_sets()


def _matmul(a: list[list[Fraction]], b: list[list[Fraction]]) -> list[list[Fraction]]:
    return [[sum((a[i][k] * b[k][j] for k in range(len(b))), Fraction(0))
             for j in range(len(b[0]))] for i in range(len(a))]  # fmt: skip


def _t(a: list[list[Fraction]]) -> list[list[Fraction]]:
    return [list(col) for col in zip(*a, strict=True)]


def _exact_identity_holds(tf: WinogradTransform, seed: int) -> bool:
    """A^T[(G g G^T) * (B^T d B)]A == the valid correlation of d with g, in Fractions."""
    rng = random.Random(seed)
    a, r, m = tf.alpha, tf.r, tf.m
    g = [[Fraction(rng.randint(-9, 9), rng.randint(1, 5)) for _ in range(r)] for _ in range(r)]
    d = [[Fraction(rng.randint(-9, 9), rng.randint(1, 5)) for _ in range(a)] for _ in range(a)]
    at = [list(row) for row in tf.AT_exact]
    gm = [list(row) for row in tf.G_exact]
    bt = [list(row) for row in tf.BT_exact]
    u = _matmul(_matmul(gm, g), _t(gm))
    v = _matmul(_matmul(bt, d), _t(bt))
    prod = [[u[i][j] * v[i][j] for j in range(a)] for i in range(a)]
    y = _matmul(_matmul(at, prod), _t(at))
    direct = [
        [sum((d[i + k][j + c] * g[k][c] for k in range(r) for c in range(r)), Fraction(0))
         for j in range(m)] for i in range(m)
    ]  # fmt: skip
    return y == direct


def _other_form(s: PointSet) -> list[object]:
    """The set in the other Toom-Cook form: infinity <-> the first unused pool point."""
    finite = [p for p in s.points if p != INF]
    if s.form == "modified":
        extra = next(p for p in SEARCH_POOL if str(p) not in s.points and p not in
                     [Fraction(q) for q in finite])  # fmt: skip
        return [*finite, extra]
    return [*finite[:-1], INF]


@pytest.mark.parametrize("point_set", SETS, ids=[s.name for s in SETS])
def test_every_named_set_satisfies_the_identity_exactly_in_both_forms(point_set: PointSet):
    tf = point_set.transform()
    assert (tf.m, tf.r) == (point_set.m, point_set.r)
    assert (INF in tf.points) == (point_set.form == "modified")
    assert _exact_identity_holds(tf, seed=1)
    other = cook_toom(point_set.m, point_set.r, _other_form(point_set))
    assert (INF in other.points) != (INF in tf.points)
    assert _exact_identity_holds(other, seed=2)


def test_the_identity_check_detects_a_wrong_matrix():
    tf = cook_toom(4, 3)
    bad_g = list(tf.G_exact)
    bad_g[1] = tuple(x * 2 for x in bad_g[1])
    broken = WinogradTransform(tf.m, tf.r, tf.points, tf.AT_exact, tuple(bad_g), tf.BT_exact)
    assert not _exact_identity_holds(broken, seed=1)


@pytest.mark.parametrize(
    ("m", "points", "expected"),
    [
        (2, [0, 1, -1, "inf"], 13.0),
        (4, [0, 1, -1, 2, -2, "inf"], 200.8),
        (4, ["0", "-1/2", -1, 1, 2, "inf"], 143.8),
        (6, [0, 1, -1, 2, -2, "1/2", "-1/2", "inf"], 1.8e3),
        (6, [0, 1, -1, 2, -2, 3, -3, "inf"], 4.7e4),
        (8, [0, 1, -1, 2, -2, 3, -3, 4, -4, "inf"], 5.2e7),
    ],
)
def test_norm_products_match_the_spec_table(m: int, points: list[object], expected: float):
    """Same matrix scaling as the authors' code (the scaling changes the fp error)."""
    assert norm_product(cook_toom(m, 3, points), dims=1) == pytest.approx(expected, rel=0.02)


def test_the_authors_sets_are_registered_as_published():
    assert named_set("barabasz-8-3").points == (
        "0", "-1/4", "-1/2", "1/2", "-1", "1", "-2", "2", "4", "inf",
    )  # fmt: skip
    assert named_set("barabasz-3-3-original").form == "original"
    assert {s.source for s in SETS} >= {"lavin", "integer", "barabasz"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1/2", Fraction(1, 2)),
        (" -4/3 ", Fraction(-4, 3)),
        (-3, Fraction(-3)),
        (0.25, Fraction(1, 4)),
    ],
)
def test_parse_exact_accepts_exact_rationals(value: object, expected: Fraction):
    assert parse_exact(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("inf", "must be finite"),
        (float("inf"), "must be finite"),
        (float("nan"), "must be finite"),
        ("nan", "must be finite"),
        (0.1, "not an exact fraction"),
        ("1/0", "not a number"),
        ("2**64", "not a number"),
        ("__import__('os')", "not a number"),
        (True, "not a number"),
        (None, "not a number"),
    ],
)
def test_parse_exact_rejects_with_the_field(value: object, message: str):
    with pytest.raises(ValueError, match=f"^points.3: .*{message}"):
        parse_exact(value, "points.3")


def test_resolve_validates_names_counts_and_duplicates():
    assert resolve(6, 3, "barabasz-6-3").points == named_set("barabasz-6-3").transform().points
    assert INF not in resolve(4, 3, None, "original").points
    with pytest.raises(ValueError, match="unknown point set 'nope'"):
        resolve(6, 3, "nope")
    with pytest.raises(ValueError, match=r"set for F\(4,3\), not F\(6,3\)"):
        resolve(6, 3, "barabasz-4-3")
    with pytest.raises(ValueError, match="takes 7 finite points, got 3"):
        resolve(6, 3, [0, 1, 2])
    with pytest.raises(ValueError, match=r"^points\.2: 1 repeats"):
        resolve(4, 3, [0, 1, 1, 2, 3])
    with pytest.raises(ValueError, match="form: must be one of"):
        resolve(4, 3, [0, 1, -1, 2, 3], "weird")  # type: ignore[arg-type]


def test_search_lowers_the_measured_error_of_the_start():
    result = search_points(4, 3, trials=200, seed=3, max_rounds=3)
    assert result.start_points == ("0", "1", "-1", "2", "-2", "inf")
    assert len(set(result.points)) == 6 and result.points[-1] == "inf"
    assert result.error < 0.9 * result.start_error
    # the gain holds on fresh trials, not only on the ones searched
    found, start = cook_toom(4, 3, list(result.points)), cook_toom(4, 3)
    assert tile_error(found, 2000, seed=11) < 0.95 * tile_error(start, 2000, seed=11)


def test_search_on_the_bound_lowers_the_norm_product_in_the_original_form():
    result = search_points(4, 3, form="original", objective="bound", max_rounds=3)
    assert INF not in result.points and len(result.points) == 6
    start = cook_toom(4, 3, list(result.start_points))
    assert norm_product(cook_toom(4, 3, list(result.points))) < 0.8 * norm_product(start)
