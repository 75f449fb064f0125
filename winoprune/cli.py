"""The `winoprune` command line (typer)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Spatial-Winograd pruning of CNNs.", no_args_is_help=True)


@app.command()
def version() -> None:
    """Print the version."""
    from importlib.metadata import version as pkg_version

    typer.echo(pkg_version("winoprune"))


def main() -> None:
    app()
