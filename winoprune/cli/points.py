"""`winoprune points list|search|errors`: named interpolation point sets, the search for
accurate ones (Barabasz et al.), and the error table of a tile."""

from __future__ import annotations

import json
from fractions import Fraction
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from winoprune.winograd.error_model import error_bound, norm_product, tile_error
from winoprune.winograd.points import FORMS, Form, named_sets, resolve, search_points

points_app = typer.Typer(help="Interpolation points of Winograd tiles.", no_args_is_help=True)
console = Console(soft_wrap=True)


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]error:[/red] {message}")
    return typer.Exit(2)


@points_app.command("list")
def list_sets(
    m: Annotated[int | None, typer.Option(help="only sets of F(m, r)")] = None,
    r: Annotated[int | None, typer.Option(help="only sets of F(m, r)")] = None,
) -> None:
    """The named point sets with their norm product (the error bound's growth factor)."""
    table = Table("name", "tile", "form", "points", "source", "norm product (2-D)")
    for s in named_sets(m, r):
        tf = s.transform()
        table.add_row(
            s.name, tf.name, s.form, ", ".join(s.points), s.source, f"{norm_product(tf):.3g}"
        )
    console.print(table)


@points_app.command("search")
def search(
    m: Annotated[int, typer.Option(help="output tile size")],
    r: Annotated[int, typer.Option(help="kernel size")] = 3,
    form: Annotated[str, typer.Option(help="modified (with infinity) or original")] = "modified",
    objective: Annotated[str, typer.Option(help="error (measured float32) or bound")] = "error",
    trials: Annotated[int, typer.Option(min=1, max=100_000, help="random tiles")] = 1000,
    seed: Annotated[int, typer.Option(min=0)] = 0,
    rounds: Annotated[int, typer.Option(min=1, max=100, help="local-search rounds")] = 8,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
) -> None:
    """Search points of F(m, r) minimising the measured float32 error (or the bound)."""
    if form not in FORMS:
        raise _fail(f"form: must be one of {FORMS}, got {form!r}")
    if objective not in ("error", "bound"):
        raise _fail(f"objective: must be 'error' or 'bound', got {objective!r}")
    chosen: Form = "modified" if form == "modified" else "original"
    try:
        result = search_points(
            m,
            r,
            chosen,
            "error" if objective == "error" else "bound",
            trials=trials,
            seed=seed,
            max_rounds=rounds,
            on_round=None if as_json else _progress,
        )
    except ValueError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(result.__dict__, indent=2))
        return
    console.print(f"F({m},{r}) {form} form, {result.evaluated} sets measured ({trials} tiles)")
    console.print(f"  start: {{{', '.join(result.start_points)}}}")
    console.print(f"         error {result.start_error:.3e}, bound {result.start_bound:.3e}")
    console.print(f"  best:  {{{', '.join(result.points)}}}")
    console.print(f"         error {result.error:.3e}, bound {result.bound:.3e}")


def _progress(round_no: int, value: float, points: tuple[Fraction, ...]) -> None:
    console.print(f"  round {round_no + 1}: {value:.4e} {{{', '.join(map(str, points))}}}")


@points_app.command("errors")
def errors(
    m: Annotated[int, typer.Option(help="output tile size")],
    r: Annotated[int, typer.Option(help="kernel size")] = 3,
    points: Annotated[
        str | None, typer.Option(help="a set name or comma-separated finite points")
    ] = None,
    form: Annotated[str, typer.Option(help="modified or original")] = "modified",
    trials: Annotated[int, typer.Option(min=1, max=100_000)] = 1000,
) -> None:
    """Mean L1 error of one tile in float32, bfloat16 and float16, and its bound."""
    if form not in FORMS:
        raise _fail(f"form: must be one of {FORMS}, got {form!r}")
    chosen: Form = "modified" if form == "modified" else "original"
    spec: str | list[str] | None = points
    if points is not None and "," in points:
        spec = [p.strip() for p in points.split(",")]
    try:
        tf = resolve(m, r, spec, chosen)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    table = Table("dtype", "natural", "huffman", "mixed", "bound")
    for dtype in ("float32", "bfloat16", "float16"):
        row = [
            f"{tile_error(tf, trials, 0, dtype, v):.3e}" for v in ("natural", "huffman", "mixed")
        ]
        table.add_row(dtype, *row, f"{error_bound(tf, dtype):.3e}")
    console.print(f"{tf.name} {{{', '.join(tf.point_labels())}}}")
    console.print(table)
