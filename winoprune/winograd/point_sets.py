"""Named interpolation point sets for F(m, r) (data; looked up through ``winograd.points``).

Each entry: name -> (m, r, points, source). Points are exact rationals as strings; "inf" is the
point at infinity (the modified Toom-Cook form), a set without it is the original form.
Sources: ``lavin`` (Lavin & Gray 2016, the library's defaults), ``integer`` (the naive small
integer points that the error analysis compares against), ``barabasz`` (the authors' code,
BasiaBarabasz/Winograd matrix_input/*.txt, related-methods-spec 4.3) and ``search`` (found by
``winoprune points search`` on float32 error, fixed seed; the README gives the command).
Names are part of recipe hashes: never rename or change an entry, add a new one.
"""

from __future__ import annotations

POINT_SETS: dict[str, tuple[int, int, tuple[str, ...], str]] = {
    # Lavin & Gray / the library's defaults (transforms.default_points)
    "lavin-2-3": (2, 3, ("0", "1", "-1", "inf"), "lavin"),
    "lavin-4-3": (4, 3, ("0", "1", "-1", "2", "-2", "inf"), "lavin"),
    # naive integer points
    "integer-6-3": (6, 3, ("0", "1", "-1", "2", "-2", "3", "-3", "inf"), "integer"),
    "integer-8-3": (8, 3, ("0", "1", "-1", "2", "-2", "3", "-3", "4", "-4", "inf"), "integer"),
    "integer-4-3-original": (4, 3, ("0", "1", "-1", "2", "-2", "3"), "integer"),
    "integer-6-3-original": (6, 3, ("0", "1", "-1", "2", "-2", "3", "-3", "4"), "integer"),
    # the authors' published candidates (matrix_input/*Mat*.txt)
    "barabasz-2-2": (2, 2, ("0", "1", "inf"), "barabasz"),
    "barabasz-2-2-b": (2, 2, ("-1", "1", "inf"), "barabasz"),
    "barabasz-3-3-original": (3, 3, ("-2", "2", "-1", "1", "0"), "barabasz"),
    "barabasz-4-3": (4, 3, ("0", "-1/2", "-1", "1", "2", "inf"), "barabasz"),
    "barabasz-4-3-b": (4, 3, ("0", "1/2", "-1", "1", "-3", "inf"), "barabasz"),
    "barabasz-6-3": (6, 3, ("0", "-1/2", "1/2", "-1", "1", "-2", "2", "inf"), "barabasz"),
    "barabasz-8-3": (
        8,
        3,
        ("0", "-1/4", "-1/2", "1/2", "-1", "1", "-2", "2", "4", "inf"),
        "barabasz",
    ),
    "barabasz-10-3": (
        10,
        3,
        ("0", "-1/4", "-1/2", "1/2", "3/4", "-1", "1", "-4/3", "-2", "2", "4", "inf"),
        "barabasz",
    ),
    # found by `winoprune points search` (float32 error, 300 / 1000 tiles, seed 0); on 5000 fresh
    # tiles (seed 1): 4.34e-6 against barabasz-4-3 5.53e-6 and lavin-4-3 6.39e-6; the original
    # form 5.17e-6 against the default original points' 8.30e-6
    "search-4-3": (4, 3, ("-3/2", "-1/2", "0", "3/4", "2", "inf"), "search"),
    "search-4-3-original": (4, 3, ("-3", "-1", "-1/4", "1/2", "5/4", "4"), "search"),
    # 300 tiles, 4 rounds; on 5000 fresh tiles 3.84e-4 against barabasz-8-3 5.27e-4 and the
    # default points' 1.27e-3 (F(6,3): the search keeps {0, +-1, +-2, +-1/2}, = barabasz-6-3)
    "search-8-3": (
        8,
        3,
        ("-2", "-1", "-2/3", "-1/3", "0", "1/2", "1", "3/2", "3", "inf"),
        "search",
    ),
}
