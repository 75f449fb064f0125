"""The `winoprune` command line: run recipes locally, inspect checkpoints, validate recipes,
and (lazily importing the service) serve, work and talk to a server."""

from __future__ import annotations

import csv
import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from tqdm import tqdm

from winoprune.cli.export import register_export_commands
from winoprune.cli.inspection import format_reduction
from winoprune.cli.points import points_app
from winoprune.cli.remote import register_remote_commands
from winoprune.cli.remote_base import Server, Token
from winoprune.cli.results_files import WRITE_ERRNOS, ResultFiles
from winoprune.cli.sensitivity_cmds import register_sensitivity_commands
from winoprune.cli.speed_publish import register_speed_commands
from winoprune.cli.tables import print_wide, stage_rows, stage_table
from winoprune.cli.tracker import FanOut
from winoprune.cli.tracking_cmds import register_tracking_commands, start_tracking
from winoprune.recipes import RecipeError, load_recipe
from winoprune.recipes.allocation import resolve_from_file
from winoprune.training import pipeline as pl

app = typer.Typer(help="Spatial-Winograd pruning of CNNs.", no_args_is_help=True)
recipes_app = typer.Typer(help="Work with recipe files.", no_args_is_help=True)
app.add_typer(recipes_app, name="recipes")
app.add_typer(points_app, name="points")
console = Console(soft_wrap=True)


class CliCallbacks(pl.Callbacks):
    """Progress bars on the terminal; metrics.jsonl and layers.csv in the output directory."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.bar: tqdm | None = None
        self.files = ResultFiles(out)  # a resumed epoch is not written twice

    def on_stage_start(self, plan: pl.StagePlan) -> None:
        if self.bar is not None:  # bool() of a bar with total=None raises
            self.bar.close()
        label = f"stage {plan.index} {plan.type}" + (f" {plan.target:.0%}" if plan.prunes else "")
        self.bar = tqdm(total=plan.epochs + 1, desc=label, unit="epoch", leave=True)

    def on_epoch(self, report: pl.EpochReport) -> None:
        record = {"stage": report.stage, "stage_type": report.stage_type, "epoch": report.epoch}
        record.update(report.metrics)
        record.update(report.summary)
        rows = [
            {"stage": report.stage, "epoch": report.epoch, **asdict(row)} for row in report.layers
        ]
        self.files.write_epoch(record, rows)
        if self.bar is None:
            self.bar = tqdm(total=None, desc=f"stage {report.stage}", unit="epoch")
        self.bar.set_postfix(
            top1=f"{report.metrics['top1']:.3f}",
            sparsity=f"{report.summary['winograd_sparsity']:.3f}",
            reduction=format_reduction(report.summary.get("mult_reduction")),
        )
        self.bar.update(1)

    def on_log(self, message: str) -> None:
        tqdm.write(message)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        self.files.close()


def _read_results(out: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    layers: list[dict[str, Any]] = []
    with (out / "layers.csv").open(newline="") as fh:
        for row in csv.DictReader(fh):
            layers.append(
                {
                    **row,
                    "stage": int(row["stage"]),
                    "epoch": int(row["epoch"]),
                    "sparsity": float(row["sparsity"]),
                }
            )
    return records, layers


@app.command()
def run(
    recipe_file: Annotated[Path, typer.Argument(help="recipe YAML or JSON")],
    out: Annotated[Path, typer.Option("--out", help="output directory (resumed if it exists)")],
    device: Annotated[str | None, typer.Option(help="override the recipe's device")] = None,
    track: Annotated[
        bool, typer.Option("--track", help="publish the run live to the service")
    ] = False,
    project: Annotated[str | None, typer.Option(help="--track: project name or id")] = None,
    server: Server = None,
    token: Token = None,
) -> None:
    """Run a recipe locally: checkpoints, metrics.jsonl, layers.csv and report.html in OUT
    (with --track also live on the service, as an external run; resumed with OUT)."""
    from winoprune.cli.report import write_report

    recipe = _load_or_exit(recipe_file)
    if device:
        recipe = recipe.model_copy(update={"device": device})
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "recipe.yaml").write_text(recipe.to_yaml())
        callbacks = CliCallbacks(out)
    except OSError as exc:
        _write_failed(out, exc)
    tracker = start_tracking(out, recipe.to_yaml(), server, token, project) if track else None
    pipeline = pl.Pipeline(recipe, out, FanOut(callbacks, tracker) if tracker else callbacks)
    try:
        try:
            result = pipeline.run()
        except BaseException as exc:
            if tracker is not None:  # failed for good, or interrupted (resumable: stays running)
                failed = isinstance(exc, ValueError | FloatingPointError)
                tracker.close("failed" if failed else None, f"{type(exc).__name__}: {exc}")
            raise
        finally:
            callbacks.close()
    except (ValueError, FloatingPointError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    except OSError as exc:
        if exc.errno not in WRITE_ERRNOS:
            raise
        _write_failed(out, exc)
    records, layers = _read_results(out)
    report = write_report(
        out / "report.html",
        f"winoprune: {recipe.name}",
        records,
        layers,
        pipeline.zero_patterns(),
        pipeline.tf,
        recipe.to_yaml(),
        pipeline.piece_patterns(),
    )
    # a run that was already complete trains nothing: its table comes from metrics.jsonl
    console.print(stage_table(stage_rows(result.stages, records, pipeline.plan)))
    if tracker is not None:
        tracker.close("succeeded" if result.status == "succeeded" else None)
    console.print(f"{result.status}; report: {report}")


@app.command()
def inspect(checkpoint: Annotated[Path, typer.Argument(help="a .safetensors checkpoint")]) -> None:
    """Per-layer table of a checkpoint: shape, spatial and Winograd sparsity, multiplications."""
    from winoprune.cli.inspection import inspect_checkpoint

    try:
        rows = inspect_checkpoint(checkpoint)
    except (ValueError, FileNotFoundError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    table = Table(*rows[0].keys()) if rows else Table("empty")
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    print_wide(console, table)  # layer names whole, also in a pipe


@recipes_app.command("validate")
def recipes_validate(files: Annotated[list[Path], typer.Argument(help="recipe files")]) -> None:
    """Validate recipe files; errors name the field path and the rule."""
    failed = False
    for path in files:
        try:
            recipe = load_recipe(path)
        except RecipeError as exc:
            failed = True
            console.print(f"[red]{path}: invalid[/red]")
            for err in exc.errors:
                console.print(f"  {err['loc']}: {err['msg']}")
            continue
        except (OSError, ValueError) as exc:
            failed = True
            console.print(f"[red]{path}: {exc}[/red]")
            continue
        console.print(f"[green]{path}: ok[/green] sha256 {recipe.sha256()[:16]}")
    if failed:
        raise typer.Exit(1)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="web server processes (one per core serves most)")
    ] = 1,
) -> None:
    """Start the service (API + an embedded worker when the broker is embedded)."""
    from worker.launcher import serve_with_worker  # lazily: the core never imports the service

    serve_with_worker(host=host, port=port, web_workers=workers)


@app.command()
def version() -> None:
    """Print the version."""
    from importlib.metadata import version as pkg_version

    typer.echo(pkg_version("winoprune"))


def _write_failed(out: Path, exc: OSError) -> NoReturn:
    """Exit 1 with what could not be written; files already in ``out`` stay as they are."""
    where = exc.filename or out
    console.print(
        f"[red]error:[/red] cannot write {where}: {exc.strerror or exc}. What was written to "
        f"{out} is kept; free space (or make it writable) and run the same command to resume."
    )
    raise typer.Exit(1) from None


def _load_or_exit(path: Path):
    try:
        # a sensitivity allocation with a scan file becomes explicit per-layer targets here
        return resolve_from_file(load_recipe(path), path.parent)
    except RecipeError as exc:
        console.print(f"[red]{path}: invalid recipe[/red]")
        for err in exc.errors:
            console.print(f"  {err['loc']}: {err['msg']}")
        raise typer.Exit(2) from None
    except (OSError, ValueError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


register_remote_commands(app)
register_tracking_commands(app)
register_export_commands(app)
register_sensitivity_commands(app)
register_speed_commands(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
