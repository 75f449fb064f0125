"""CLI commands on the tracking API and metric queries: ``winoprune push RUN_DIR``,
``winoprune runs`` (the runs list with its filters and sorts), and the ``run --track`` helper.
Register them with ``register_tracking_commands(app)``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from winoprune.cli.client import Client, ClientError
from winoprune.cli.publish import external_run, publish_dir
from winoprune.cli.remote_base import Server, Token, _client, _fail, console
from winoprune.cli.tracker import Tracker
from winoprune.training import checkpoints as ckpt
from winoprune.training.callbacks import EpochReport
from winoprune.training.stages import StagePlan

Project = Annotated[str | None, typer.Option(help="project name or id (or WINOPRUNE_PROJECT)")]
SORTS = ("created", "updated", "status", "top1", "winograd_sparsity", "mult_reduction", "loss")


def _project_client(
    server: str | None, token: str | None, project: str | None
) -> tuple[Client, int]:
    client = _client(server, token, project)
    if not client.config.project:
        _fail("project: give --project NAME (or WINOPRUNE_PROJECT, config)", 2)
    try:
        return client, client.project_id(str(client.config.project))
    except ClientError as exc:
        _fail(exc.message)


def push(
    run_dir: Annotated[Path, typer.Argument(help="output folder of `winoprune run`")],
    project: Project = None,
    server: Server = None,
    token: Token = None,
) -> None:
    """Publish a local run (recipe, metrics.jsonl, layers.csv, stage checkpoints) as an
    external run; run it again after an interruption: nothing is sent twice."""
    recipe_path = run_dir / "recipe.yaml"
    if not recipe_path.is_file():
        _fail(f"run_dir: {run_dir} has no recipe.yaml (not a `winoprune run` folder)", 2)
    client, project_id = _project_client(server, token, project)
    try:
        run_id = external_run(client, run_dir, project_id, recipe_path.read_text("utf-8"))
        done = publish_dir(client, run_id, run_dir)
    except ClientError as exc:
        _fail(exc.message)
    console.print(
        f"run {run_id}: {done.metrics} metric and {done.layers} layer rows new, "
        f"{done.checkpoints} checkpoint(s): {client.config.server}/runs/{run_id}"
    )


class LiveTracker(Tracker):
    """``run --track``: a failed send is reported, not fatal (the local run goes on); the
    folder is published again at the end, which fills any gap without duplicates."""

    def __init__(self, client: Client, run_id: int, out: Path) -> None:
        super().__init__(client, run_id)
        self.out, self.behind = out, False

    def _safely(self, send: Any, *args: Any) -> None:
        try:
            send(*args)
        except ClientError as exc:
            self.behind = True
            console.print(f"[yellow]tracking:[/yellow] {exc}; will catch up at the end")

    def on_stage_start(self, plan: StagePlan) -> None:
        self._safely(super().on_stage_start, plan)

    def on_epoch(self, report: EpochReport) -> None:
        self._safely(super().on_epoch, report)

    def on_stage_end(self, plan: StagePlan, result: dict[str, Any]) -> None:
        self._safely(super().on_stage_end, plan, result)

    def on_checkpoint(self, path: Path, meta: ckpt.CheckpointMeta) -> None:
        self._safely(super().on_checkpoint, path, meta)

    def close(self, status: str | None, error: str | None = None) -> None:
        """Catch up from the folder, then end the run with ``status`` (None: leave it running,
        to be resumed)."""
        try:
            publish_dir(self.client, self.run_id, self.out, finish=False)
            if status is not None:
                self.finish(
                    status, None if status == "succeeded" else error[:2000] if error else None
                )
        except ClientError as exc:
            console.print(f"[red]tracking:[/red] {exc}; publish later with `winoprune push`")
        finally:
            self.client.close()


def start_tracking(
    out: Path, recipe_text: str, server: str | None, token: str | None, project: str | None
) -> LiveTracker:
    """The tracker of ``winoprune run --track`` (the same run again when ``out`` is resumed)."""
    client, project_id = _project_client(server, token, project)
    try:
        run_id = external_run(client, out, project_id, recipe_text)
    except ClientError as exc:
        _fail(exc.message)
    console.print(f"tracking as run {run_id}: {client.config.server}/runs/{run_id}")
    tracker = LiveTracker(client, run_id, out)
    tracker._safely(publish_dir, client, run_id, out, False)  # what a resumed run already had
    return tracker


def _fmt(value: float | None, pattern: str) -> str:
    return "-" if value is None else pattern.format(value)


def runs(
    project: Project = None,
    metric_filter: Annotated[
        list[str] | None,
        typer.Option("--filter", help="e.g. 'top1>=0.7', 'stage1.loss<0.5' (repeatable)"),
    ] = None,
    sort: Annotated[str, typer.Option(help=f"one of {', '.join(SORTS)}")] = "created",
    order: Annotated[str, typer.Option(help="asc or desc")] = "desc",
    status: Annotated[list[str] | None, typer.Option(help="run state (repeatable)")] = None,
    method: Annotated[str | None, typer.Option(help="pruning method")] = None,
    external: Annotated[
        bool | None, typer.Option("--external/--workers", help="only external / worker runs")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
    cursor: Annotated[str | None, typer.Option(help="next page (printed under the table)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the raw JSON page")] = False,
    server: Server = None,
    token: Token = None,
) -> None:
    """List runs with the service's filters and sorts (the same parameters as GET /runs)."""
    client = _client(server, token, project)
    params: list[tuple[str, Any]] = [("sort", sort), ("order", order), ("limit", limit)]
    params += [("filter", f) for f in metric_filter or []] + [("status", s) for s in status or []]
    for name, value in (("method", method), ("cursor", cursor)):
        if value is not None:
            params.append((name, value))
    if external is not None:
        params.append(("external", str(external).lower()))
    try:
        if client.config.project:
            params.append(("project", client.project_id(str(client.config.project))))
        page = client.list_runs(params)
    except ClientError as exc:
        _fail(exc.message, 2 if exc.status == 422 else 1)
    if as_json:
        typer.echo(json.dumps(page, indent=2))
        return
    table = Table("id", "name", "status", "method", "top-1", "sparsity", "reduction", "loss")
    table.add_column("source", no_wrap=True, min_width=8)
    for item in page["items"]:
        final = item.get("final") or {}
        table.add_row(
            str(item["id"]),
            item["name"],
            item["status"],
            item["method"],
            _fmt(final.get("top1"), "{:.2%}"),
            _fmt(final.get("winograd_sparsity"), "{:.2%}"),
            _fmt(final.get("mult_reduction"), "{:.2f}x"),
            _fmt(final.get("loss"), "{:.4f}"),
            "external" if item.get("external") else "worker",
        )
    console.print(table)
    if page.get("next_cursor"):
        console.print(f"more: --cursor {page['next_cursor']}", highlight=False)


def register_tracking_commands(app: typer.Typer) -> None:
    """Add push and runs to the `winoprune` app."""
    for command in (push, runs):
        app.command()(command)
