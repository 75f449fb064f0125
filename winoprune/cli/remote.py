"""CLI commands that talk to a winoprune service over REST: submit, status, watch, download,
plus `worker` (starts a Celery worker for the service). Register them with
``register_remote_commands(app)``; nothing here imports the service or the worker."""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from winoprune.cli import run_summary as summary
from winoprune.cli.client import TERMINAL_STATES, Client, ClientError, resolve_config
from winoprune.recipes import RecipeError, load_recipe
from winoprune.recipes.allocation import needs_allocation, resolve_from_file

console = Console(soft_wrap=True)
Server = Annotated[str | None, typer.Option(help="service URL (or WINOPRUNE_SERVER, config)")]
Token = Annotated[
    str | None, typer.Option(help="API token (or WINOPRUNE_TOKEN, config)", show_default=False)
]
RunId = Annotated[int, typer.Argument(help="run id")]
EXPORTS = [("metrics", "csv"), ("metrics", "json"), ("layers", "csv"), ("layers", "json")]


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
        _watch(client, int(run["id"]), None)


def describe_recipe_error(exc: RecipeError) -> str:
    """One line per invalid field."""
    return "; ".join(f"{e['loc']}: {e['msg']}" for e in exc.errors)


def status(
    run_id: RunId,
    as_json: Annotated[bool, typer.Option("--json", help="print the raw JSON")] = False,
    server: Server = None,
    token: Token = None,
) -> None:
    """Show a run: state, progress, device, error and its stages."""
    try:
        run = _client(server, token).run(run_id)
    except ClientError as exc:
        _fail(exc.message)
    if as_json:
        typer.echo(json.dumps(run, indent=2))
        return
    console.print(summary.status_line(run), highlight=False)
    for line in (summary.queue_line(run), summary.timing_line(run), summary.metrics_line(run)):
        if line:
            console.print(line, highlight=False)
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


def _fmt(value: float | None, pattern: str) -> str:
    return "-" if value is None else pattern.format(value)


def watch(
    run_id: RunId,
    timeout: Annotated[float | None, typer.Option(help="give up after this many seconds")] = None,
    server: Server = None,
    token: Token = None,
) -> None:
    """Follow a run live (server-sent events, polling when they are unavailable)."""
    _watch(_client(server, token), run_id, timeout)


class StageBars:
    """One progress bar per stage: epoch 0 (after pruning) plus every training epoch."""

    def __init__(self, progress: Progress, run: dict[str, Any]) -> None:
        recipe = run["recipe"]
        epochs = {i: int(s["epochs"]) for i, s in enumerate(recipe.get("stages", []))}
        if recipe.get("pretrain"):
            epochs[-1] = int(recipe["pretrain"]["epochs"])
        self.progress = progress
        self.tasks = {
            stage["index"]: progress.add_task(
                f"stage {stage['index']:>2} {stage['type']}",
                total=epochs.get(stage["index"], 0) + 1,
                info="",
                start=False,  # the clock runs from the stage's first epoch, not while queued
            )
            for stage in run["stages"]
        }
        for stage in run["stages"]:
            if stage["status"] == "succeeded":
                self.complete(stage["index"])
        where = run.get("progress") or {}
        if where.get("stage") is not None and where.get("epoch") is not None:
            self.at(where["stage"], where["epoch"])

    def at(self, stage: int, epoch: int, info: str = "") -> None:
        """Epoch ``epoch`` of ``stage`` is done."""
        if stage in self.tasks:
            self.progress.start_task(self.tasks[stage])
            self.progress.update(self.tasks[stage], completed=epoch + 1, info=info)

    def complete(self, stage: int) -> None:
        """The stage is finished."""
        if stage in self.tasks:
            task = self.tasks[stage]
            self.progress.update(task, completed=self.progress.tasks[task].total)

    def apply(self, event: dict[str, Any]) -> str | None:
        """Move the bars for one change notice; returns the run's final status when it ended."""
        data, kind = event.get("data") or {}, event.get("kind")
        if kind == "run.progress" and data.get("epoch") is not None:
            info = _progress_info(data)
            self.at(int(data["stage"]), int(data["epoch"]), info)
        elif kind == "stage.finished" and data.get("status") == "succeeded":
            self.complete(int(data["stage"]))
        elif kind == "run.started":
            self.progress.console.print("[dim]started on a worker[/dim]")
        elif kind == "log" and data.get("message"):
            self.progress.console.print(f"[dim]{data['message']}[/dim]")
        elif kind in ("run.finished", "run.cancelled") and data.get("status") in TERMINAL_STATES:
            return str(data["status"])
        return None


def _progress_info(data: dict[str, Any]) -> str:
    parts = []
    if data.get("top1") is not None:
        parts.append(f"top-1 {data['top1']:.3f}")
    if data.get("winograd_sparsity") is not None:
        parts.append(f"sparsity {data['winograd_sparsity']:.3f}")
    return ", ".join(parts)


POLL_S = 2.0
SSE_ATTEMPTS = 3  # stream failures before falling back to polling
RETRY_FIRST_S, RETRY_MAX_S = 1.0, 30.0  # back-off while the service is unreachable
TRANSIENT = frozenset({0, 502, 503, 504})  # unreachable, or a proxy/database outage
FINAL_RETRY_S = 300.0  # how long the last status read may wait for the service


def _with_retry(call: Callable[[], Any], deadline: float | None) -> Any:
    """``call()``, retried with exponential back-off while the service is unreachable (a
    restart, a database outage); other errors, and the deadline, end the retries."""
    delay = RETRY_FIRST_S
    while True:
        try:
            return call()
        except ClientError as exc:
            late = deadline is not None and time.monotonic() + delay >= deadline
            if exc.status not in TRANSIENT or late:
                raise
            console.print(f"[yellow]{exc.message}; retrying in {delay:.0f} s[/yellow]")
            time.sleep(delay)
            delay = min(2 * delay, RETRY_MAX_S)


def _watch(client: Client, run_id: int, timeout: float | None) -> None:
    try:
        run = client.run(run_id)
        cursor = int(client.changes(run_id, 0)["cursor"])
    except ClientError as exc:
        _fail(exc.message)
    final = run["status"] if run["status"] in TERMINAL_STATES else None
    deadline = None if timeout is None else time.monotonic() + timeout
    queued = summary.queue_line(run)
    if queued:
        console.print(queued, highlight=False)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[info]}"),
    )
    with Progress(*columns, console=console) as progress:
        bars = StageBars(progress, run)
        if final is None:
            final = _follow(client, run_id, cursor, bars, deadline)
    try:
        run = _with_retry(partial(client.run, run_id), time.monotonic() + FINAL_RETRY_S)
    except ClientError as exc:
        _fail(exc.message)
    error = f" ({run['error']})" if run.get("error") else ""
    console.print(f"run {run_id}: {final or run['status']}{error}")
    for line in (summary.timing_line(run), summary.metrics_line(run)):
        if line:
            console.print(line, highlight=False)
    if final is None:
        _fail(f"timeout: run {run_id} is still {run['status']} after {timeout} s")
    if final != "succeeded":
        raise typer.Exit(1)


def _follow(
    client: Client, run_id: int, cursor: int, bars: StageBars, deadline: float | None
) -> str | None:
    """Apply change notices until the run ends (its status) or the deadline passes (None)."""
    failures = 0
    while deadline is None or time.monotonic() < deadline:
        if failures < SSE_ATTEMPTS:
            try:
                for event in client.events(run_id, cursor):
                    if event is not None:
                        cursor = max(cursor, int(event["id"]))
                        final = bars.apply(event)
                        if final is not None:
                            return final
                    if deadline is not None and time.monotonic() >= deadline:
                        return None
            except ClientError:
                pass
            failures += 1  # the stream ended or broke: reconnect from the cursor
            continue
        try:
            batch = _with_retry(partial(client.changes, run_id, cursor), deadline)
        except ClientError as exc:
            if exc.status in TRANSIENT:
                return None  # still unreachable at the deadline
            _fail(exc.message)
        for event in batch["events"]:
            final = bars.apply(event)
            if final is not None:
                return final
        cursor = int(batch["cursor"])
        time.sleep(POLL_S)
    return None


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
