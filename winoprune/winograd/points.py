"""Interpolation points for F(m, r): named sets, validation, and a search for accurate ones.

Barabasz et al. show that the points decide most of a Winograd tile's floating-point error
(related-methods-spec 4): ``search_points`` looks for a set that minimises the measured float32
error of the spec-4.5 protocol (``objective="error"``) or the error bound's norm product
(``objective="bound"``), by local search from the default set: each round tries replacing each
finite point by each unused point of the pool and keeps the best improvement. Every candidate
is measured on the same random trials (fixed seed), so comparisons are not noise.

Two Toom-Cook forms (``form``): ``modified`` (alpha - 1 finite points and the point at infinity,
the library's default) and ``original`` (alpha finite points).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from winoprune.winograd.error_model import (
    direct_tile,
    draw_trials,
    error_bound,
    l1_error,
    norm_product,
    winograd_tile,
)
from winoprune.winograd.point_sets import POINT_SETS
from winoprune.winograd.transforms import (
    INF,
    PREFERRED_POINTS,
    Point,
    WinogradTransform,
    cook_toom,
    default_points,
)

Form = Literal["modified", "original"]
FORMS: tuple[Form, ...] = ("modified", "original")
MAX_DENOMINATOR = 64  # float points must be exact fractions with a small denominator
# the search's candidates: small integers, their reciprocals, and simple fractions in between
POOL_MAGNITUDES = (
    "1",
    "2",
    "1/2",
    "3",
    "1/3",
    "3/2",
    "2/3",
    "4",
    "1/4",
    "3/4",
    "4/3",
    "5/4",
    "4/5",
)
SEARCH_POOL: tuple[Fraction, ...] = (
    *(Fraction(s) for p in POOL_MAGNITUDES for s in (p, "-" + p)),
    Fraction(0),
)


@dataclass(frozen=True)
class PointSet:
    """A named point set: F(m, r), its points (strings, "inf" for infinity) and its source."""

    name: str
    m: int
    r: int
    points: tuple[str, ...]
    source: str

    @property
    def form(self) -> Form:
        return "modified" if INF in self.points else "original"

    def transform(self) -> WinogradTransform:
        return cook_toom(self.m, self.r, list(self.points))


def named_sets(m: int | None = None, r: int | None = None) -> list[PointSet]:
    """Every named set, optionally only those of F(m, r), in registry order."""
    sets = [PointSet(name, *entry) for name, entry in POINT_SETS.items()]
    return [s for s in sets if (m is None or s.m == m) and (r is None or s.r == r)]


def named_set(name: str) -> PointSet:
    """The named set ``name``; ValueError listing the known names otherwise."""
    if name not in POINT_SETS:
        raise ValueError(f"points: unknown point set {name!r}; known: {', '.join(POINT_SETS)}")
    return PointSet(name, *POINT_SETS[name])


def parse_exact(value: object, field: str = "points") -> Fraction:
    """One finite point: an int, a string ("1/2", "-2", "0.25") or a float that is an exact
    fraction with denominator <= 64. Never evaluates the text (``fractions.Fraction`` parses)."""
    if isinstance(value, bool):
        raise ValueError(f"{field}: {value!r} is not a number")
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{field}: must be finite, got {value!r} (infinity: form modified)")
        exact = Fraction(value)
        if exact.limit_denominator(MAX_DENOMINATOR) != exact:
            raise ValueError(f"{field}: {value!r} is not an exact fraction; write it as 'p/q'")
        return exact
    if isinstance(value, str):
        text = value.strip()
        if text.lower().lstrip("+-") in ("inf", "infinity", "nan", "∞"):
            raise ValueError(f"{field}: must be finite, got {value!r} (infinity: form modified)")
        try:
            return Fraction(text)
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"{field}: {value!r} is not a number or a fraction 'p/q'") from None
    raise ValueError(f"{field}: {value!r} is not a number or a fraction 'p/q'")


def finite_count(m: int, r: int, form: Form) -> int:
    """How many finite points F(m, r) takes in ``form``."""
    return m + r - 1 - (1 if form == "modified" else 0)


def points_from_list(m: int, r: int, values: Sequence[object], form: Form) -> tuple[Point, ...]:
    """Validated points of F(m, r) from finite values (errors name ``points.<i>``)."""
    if form not in FORMS:
        raise ValueError(f"form: must be one of {FORMS}, got {form!r}")
    want = finite_count(m, r, form)
    if len(values) != want:
        raise ValueError(
            f"points: F({m},{r}) in the {form} form takes {want} finite points, got {len(values)}"
        )
    pts = [parse_exact(v, f"points.{i}") for i, v in enumerate(values)]
    for i, p in enumerate(pts):
        if p in pts[:i]:
            raise ValueError(f"points.{i}: {p} repeats an earlier point; points must be distinct")
    return (*pts, INF) if form == "modified" else tuple(pts)


def default_form_points(m: int, r: int, form: Form) -> tuple[Point, ...]:
    """The library's default points of F(m, r) in ``form``."""
    if form == "modified":
        return default_points(m, r)
    return PREFERRED_POINTS[: finite_count(m, r, form)]


def resolve(
    m: int, r: int, points: str | Sequence[object] | None = None, form: Form = "modified"
) -> WinogradTransform:
    """F(m, r) from a set name, a list of finite points or the default points of ``form``."""
    if points is None:
        return cook_toom(m, r, list(default_form_points(m, r, form)))
    if isinstance(points, str):
        chosen = named_set(points)
        if (chosen.m, chosen.r) != (m, r):
            raise ValueError(
                f"points: {points!r} is a set for F({chosen.m},{chosen.r}), not F({m},{r})"
            )
        return chosen.transform()
    return cook_toom(m, r, list(points_from_list(m, r, points, form)))


@dataclass(frozen=True)
class SearchResult:
    """The best set found, its measured error and bound, and the start's for comparison."""

    m: int
    r: int
    form: Form
    objective: str
    points: tuple[str, ...]
    error: float
    bound: float
    start_points: tuple[str, ...]
    start_error: float
    start_bound: float
    evaluated: int


def search_points(
    m: int,
    r: int,
    form: Form = "modified",
    objective: Literal["error", "bound"] = "error",
    trials: int = 300,
    seed: int = 0,
    pool: Sequence[Fraction] = SEARCH_POOL,
    max_rounds: int = 8,
    start: Sequence[Point] | None = None,
    on_round: Callable[[int, float, tuple[Fraction, ...]], None] | None = None,
) -> SearchResult:
    """Local search over the finite points of F(m, r) (module docstring)."""
    if objective not in ("error", "bound"):
        raise ValueError(f"objective: must be 'error' or 'bound', got {objective!r}")
    data = None
    ref = None
    cache: dict[tuple[Fraction, ...], tuple[float, float]] = {}

    def score(finite: tuple[Fraction, ...]) -> tuple[float, float]:
        key = tuple(sorted(finite))
        if key not in cache:
            tf = cook_toom(m, r, [*finite, INF] if form == "modified" else list(finite))
            err = l1_error(winograd_tile(tf, data), ref) if data is not None else math.nan
            cache[key] = (err, norm_product(tf))
        return cache[key]

    first = tuple(start) if start is not None else default_form_points(m, r, form)
    current = tuple(p for p in first if isinstance(p, Fraction))
    if objective == "error":
        data = draw_trials(cook_toom(m, r, list(first)), trials, seed)
        ref = direct_tile(data.g, data.d)
    pick = 0 if objective == "error" else 1
    best = score(current)
    for round_no in range(max_rounds):
        improved = None
        for i in range(len(current)):
            for q in pool:
                if q in current:
                    continue
                cand = (*current[:i], q, *current[i + 1 :])
                s = score(cand)
                if s[pick] < (improved[1][pick] if improved else best[pick]):
                    improved = (cand, s)
        if improved is None:
            break
        current, best = improved
        if on_round is not None:
            on_round(round_no, best[pick], current)
    labels = tuple(str(p) for p in sorted(current)) + (("inf",) if form == "modified" else ())
    start_scores = score(tuple(p for p in first if isinstance(p, Fraction)))
    tf_best = cook_toom(m, r, list(labels))
    return SearchResult(
        m, r, form, objective, labels, best[0], error_bound(tf_best),
        tuple(str(p) for p in first), start_scores[0],
        error_bound(cook_toom(m, r, list(first))), len(cache),
    )  # fmt: skip
