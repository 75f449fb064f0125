"""CLI commands that talk to a winoprune service over REST: submit, status, watch, download,
plus `worker` (starts a Celery worker for the service). Register them with
``register_remote_commands(app)``; nothing here imports the service or the worker."""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from winoprune.cli import run_summary as summary
from winoprune.cli import watching
from winoprune.cli.client import Client, ClientError
from winoprune.cli.remote_base import (
    RunId,
    Server,
    Token,
    _client,
    _fail,
    console,
    describe_recipe_error,
)
from winoprune.recipes import RecipeError, load_recipe
from winoprune.recipes.allocation import needs_allocation, resolve_from_file

EXPORTS = [("metrics", "csv"), ("metrics", "json"), ("layers", "csv"), ("layers", "json")]


def submit(
    recipe_file: Annotated[Path, typer.Argument(help="recipe YAML or JSON")],
    project: Annotated[str | None, typer.Option(help="project name or id")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="tag (repeatable)")] = None,
    notes: Annotated[str, typer.Option(help="free-text notes")] = "",
    watch_run: Annotated[bool, typer.Option("--watch", help="follow the run")] = False,
    server: Server = None,
    token: Token = None,
) -> None:
    """Validate a recipe locally and queue it as a run on the service."""
    try:
        recipe = load_recipe(recipe_file)
        text = recipe_file.read_text(encoding="utf-8")
        if needs_allocation(recipe) and not str(recipe.layers.scan).isdigit():
            # a scan file is resolved here; a scan id (digits) by the service
            text = resolve_from_file(recipe, recipe_file.parent).canonical_json()
    except RecipeError as exc:
        _fail(f"{recipe_file}: invalid recipe: " + describe_recipe_error(exc), 2)
    except ValueError as exc:
        _fail(str(exc), 2)
    client = _client(server, token, project)
    if not client.config.project:
        _fail("project: give --project NAME (or WINOPRUNE_PROJECT, config)", 2)
    try:
        project_id = client.project_id(str(client.config.project))
        run = client.submit(project_id, text, tag or [], notes, f"cli-{uuid.uuid4().hex}")
    except ClientError as exc:
        _fail(exc.message)
    console.print(f"run {run['id']} {run['status']}: {client.config.server}/runs/{run['id']}")
    if watch_run:
        watching.watch_run(client, int(run["id"]), None)


def status(
    run_id: RunId,
    as_json: Annotated[bool, typer.Option("--json", help="print the raw JSON")] = False,
    server: Server = None,
    token: Token = None,
) -> None:
    """Show a run: state, progress, device, error and its stages."""
    client = _client(server, token)
    try:
        run = client.run(run_id)
    except ClientError as exc:
        _fail(exc.message)
    if as_json:
        typer.echo(json.dumps(run, indent=2))
        return
    console.print(summary.status_line(run), highlight=False)
    for line in (summary.queue_line(run), summary.timing_line(run), summary.metrics_line(run)):
        if line:
            console.print(line, highlight=False)
    speeds = _speeds(client, run_id)
    if speeds:  # the newest benchmark of its export, beside the counted reduction
        console.print(summary.speed_line(speeds[0]), highlight=False)
    if run.get("error"):
        console.print(f"[red]{run['error']}[/red]")
    table = Table("stage", "type", "target", "status", "top-1", "sparsity", "seconds")
    for stage in run["stages"]:
        table.add_row(
            str(stage["index"]),
            stage["type"],
            _fmt(stage["target"], "{:.0%}"),
            stage["status"],
            _fmt(stage["accuracy"], "{:.2%}"),
            _fmt(stage["sparsity"], "{:.2%}"),
            _fmt(stage["duration_s"], "{:.1f}"),
        )
    console.print(table)


def _speeds(client: Client, run_id: int) -> list[dict[str, Any]]:
    """The run's measured speeds, newest first ([] from a service without the route)."""
    try:
        return list(client.speeds(run_id))
    except ClientError as exc:
        if exc.status in (404, 405):
            return []
        _fail(exc.message)


def _fmt(value: float | None, pattern: str) -> str:
    return "-" if value is None else pattern.format(value)


def watch(
    run_id: RunId,
    timeout: Annotated[float | None, typer.Option(help="give up after this many seconds")] = None,
    server: Server = None,
    token: Token = None,
) -> None:
    """Follow a run live (server-sent events, polling when they are unavailable)."""
    watching.watch_run(_client(server, token), run_id, timeout)


def download(
    run_id: RunId,
    out: Annotated[Path | None, typer.Option(help="folder (default ./run-<id>)")] = None,
    all_checkpoints: Annotated[
        bool, typer.Option("--all", help="every stored checkpoint, not just the latest")
    ] = False,
    server: Server = None,
    token: Token = None,
) -> None:
    """Download a run's checkpoint (+ JSON sidecar) and its metrics/layers as CSV and JSON."""
    client = _client(server, token)
    folder = out or Path(f"run-{run_id}")
    folder.mkdir(parents=True, exist_ok=True)
    try:
        run = client.run(run_id)
        (folder / "run.json").write_text(json.dumps(run, indent=1), encoding="utf-8")
        checkpoints = sorted(
            (a for a in client.artifacts(run_id) if a["kind"] == "checkpoint"),
            key=lambda a: (
                a["meta"].get("stage", 0),
                a["meta"].get("epoch", 0),
                a["meta"].get("step", 0),
            ),
        )
        for artifact in checkpoints if all_checkpoints else checkpoints[-1:]:
            name = artifact["name"]  # named after the run: files from many runs stay apart
            named = name if name.startswith(f"run-{run_id}-") else f"run-{run_id}-{name}"
            path = client.download(f"/artifacts/{artifact['id']}/download", folder / named)
            sidecar = artifact["meta"].get("sidecar")
            if sidecar:  # next to the weights, `winoprune inspect` and `run --out` can use it
                path.with_suffix(".json").write_text(json.dumps(sidecar, indent=1))
            console.print(f"checkpoint: {path}")
        for table, fmt in EXPORTS:
            target = folder / f"{table}.{fmt}"
            client.download(f"/runs/{run_id}/export", target, {"table": table, "format": fmt})
        report = client.download(f"/runs/{run_id}/report", folder / f"run-{run_id}-report.html")
        console.print(f"report: {report}")
    except ClientError as exc:
        _fail(exc.message)
    if not checkpoints:
        console.print("no checkpoint stored yet")
    console.print(f"run {run_id} ({run['status']}): {folder}")


def worker(
    queues: Annotated[
        str | None, typer.Option(help="comma-separated queues (default gpu,cpu)")
    ] = None,
    gpus: Annotated[
        str | None, typer.Option(help="comma-separated GPU ids: a worker per GPU")
    ] = None,
) -> None:
    """Start a Celery worker for the service (settings from WINOPRUNE_* variables)."""
    argv = [sys.executable, "-m", "worker"]
    if queues:
        argv += ["--queues", queues]
    if gpus:
        argv += ["--gpus", gpus]
    os.execv(sys.executable, argv)  # noqa: S606 - our own interpreter and module


def register_remote_commands(app: typer.Typer) -> None:
    """Add submit, status, watch, download and worker to the `winoprune` app."""
    for command in (submit, status, watch, download, worker):
        app.command()(command)
