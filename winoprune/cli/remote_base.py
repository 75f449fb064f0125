"""What every REST-client command shares: the console, the --server/--token options, the
client made from them (options, environment, config file) and the one way to fail."""

from __future__ import annotations

from typing import Annotated, NoReturn

import typer
from rich.console import Console

from winoprune.cli.client import Client, resolve_config
from winoprune.recipes import RecipeError

console = Console(soft_wrap=True)
Server = Annotated[str | None, typer.Option(help="service URL (or WINOPRUNE_SERVER, config)")]
Token = Annotated[
    str | None, typer.Option(help="API token (or WINOPRUNE_TOKEN, config)", show_default=False)
]
RunId = Annotated[int, typer.Argument(help="run id")]


def _client(server: str | None, token: str | None, project: str | None = None) -> Client:
    try:
        config = resolve_config(server, token, project)
    except ValueError as exc:
        _fail(str(exc), 2)
    if not config.token:
        _fail("token: set WINOPRUNE_TOKEN or 'token' in ~/.config/winoprune/config.toml", 2)
    return Client(config)


def _fail(message: str, code: int = 1) -> NoReturn:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


def describe_recipe_error(exc: RecipeError) -> str:
    """One line per invalid field."""
    return "; ".join(f"{e['loc']}: {e['msg']}" for e in exc.errors)
