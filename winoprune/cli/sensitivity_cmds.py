"""`winoprune sensitivity RECIPE --from CHECKPOINT`: a per-layer sensitivity scan, locally
(progress bar; writes sensitivity.json/.csv/.html) or on a service (``--remote``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from tqdm import tqdm

from winoprune.cli.client import ClientError
from winoprune.cli.remote_base import Server, Token, _client, _fail, describe_recipe_error
from winoprune.cli.sensitivity_report import write_outputs
from winoprune.recipes import RecipeError, load_recipe
from winoprune.training.sensitivity import DEFAULT_GRID, SCAN_METHODS, ScanSpec, SensitivityScan

console = Console(soft_wrap=True)


def parse_grid(text: str | None) -> tuple[float, ...]:
    """ "0,0.5,0.9" or "start:stop:step" (stop inclusive) -> sparsities; None: the default."""
    if not text:
        return DEFAULT_GRID
    try:
        if ":" in text:
            start, stop, step = (float(v) for v in text.split(":"))
            if step <= 0:
                raise ValueError
            count = round((stop - start) / step) + 1
            return tuple(round(start + i * step, 6) for i in range(count))
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise typer.BadParameter(
            f"grid: expected 'a,b,c' or 'start:stop:step', got {text!r}"
        ) from None


def sensitivity(
    recipe_file: Annotated[Path, typer.Argument(help="recipe YAML or JSON (model, data, tile)")],
    source: Annotated[
        str | None,
        typer.Option(
            "--from", help="checkpoint file; remote: run:RUN_ID:STAGE or artifact:ARTIFACT_ID"
        ),
    ] = None,
    method: Annotated[str, typer.Option(help=" | ".join(SCAN_METHODS))] = "winograd-direct",
    grid: Annotated[str | None, typer.Option(help="'0,0.5,0.9' or '0:0.95:0.05'")] = None,
    val_size: Annotated[int, typer.Option(help="training images held out for validation")] = 1000,
    retrain_steps: Annotated[int, typer.Option(help="SGD steps per point")] = 0,
    retrain_lr: Annotated[float, typer.Option(help="lr of those steps")] = 0.01,
    out: Annotated[Path, typer.Option(help="output folder (local)")] = Path("sensitivity-out"),
    remote: Annotated[bool, typer.Option("--remote", help="run it on the service")] = False,
    project: Annotated[str | None, typer.Option(help="project name or id (remote)")] = None,
    chunk_size: Annotated[int, typer.Option(help="grid points per worker task (remote)")] = 0,
    server: Server = None,
    token: Token = None,
) -> None:
    """Scan each layer's accuracy against its Winograd-domain sparsity."""
    try:
        recipe = load_recipe(recipe_file)
    except RecipeError as exc:
        _fail(f"{recipe_file}: invalid recipe: " + describe_recipe_error(exc), 2)
    grid_values = parse_grid(grid)
    options: dict[str, Any] = {
        "method": method, "grid": list(grid_values), "val_size": val_size,
        "retrain_steps": retrain_steps, "retrain_lr": retrain_lr,
    }  # fmt: skip
    if remote:
        _remote(recipe_file, source, options, chunk_size, project, server, token)
        return
    try:
        spec = ScanSpec(
            method, grid_values, val_size, retrain_steps, retrain_lr,
            batch_size=recipe.eval_batch_size, seed=recipe.seed,
        )  # fmt: skip
        weights = Path(source) if source else None
        if weights is None and recipe.init_checkpoint:
            weights = Path(recipe.init_checkpoint)
        if weights is not None and not weights.is_file():
            raise ValueError(f"--from: {weights} is not a file")
        scan = SensitivityScan(recipe, spec, weights)
    except ValueError as exc:
        _fail(str(exc), 2)
    baseline = scan.baseline()
    points: list[dict[str, Any]] = []
    started = time.perf_counter()
    total = len(scan.layers) * len(spec.grid)
    with tqdm(total=total, desc="sensitivity", unit="point") as bar:
        for info in scan.layers:
            for point in scan.run_layer(info.name):
                row = {k: v for k, v in point.__dict__.items() if k not in ("extra", "index")}
                points.append({**row, "grid_index": point.index})
                bar.set_postfix(layer=info.name, acc=f"{point.accuracy:.3f}")
                bar.update()
    layers = [{"name": i.name, "numel": i.numel, "mult_dense": i.mult_dense} for i in scan.layers]
    result = {
        "name": recipe.name, "method": method, "spec": spec.to_dict(),
        "recipe": recipe.model_dump(mode="json"), "checkpoint": str(weights) if weights else None,
        "layers": layers, "baseline": baseline, "points": points,
        "seconds": time.perf_counter() - started,
    }  # fmt: skip
    for path in write_outputs(result, out):
        console.print(f"wrote {path}")


def _remote(
    recipe_file: Path, source: str | None, options: dict[str, Any], chunk_size: int,
    project: str | None, server: str | None, token: str | None,
) -> None:  # fmt: skip
    client = _client(server, token, project)
    body: dict[str, Any] = {**options, "chunk_size": chunk_size}
    try:
        if source and source.startswith("run:"):
            _, run_id, stage = source.split(":")
            body.update(source="run", run_id=int(run_id), stage=int(stage))
        else:
            if not client.config.project:
                _fail("project: give --project NAME (or WINOPRUNE_PROJECT, config)", 2)
            body.update(project=client.project_id(str(client.config.project)),
                        recipe=recipe_file.read_text(encoding="utf-8"))  # fmt: skip
            if source and source.startswith("artifact:"):
                body.update(source="artifact", artifact_id=int(source.split(":", 1)[1]))
            elif source:
                _fail(
                    "--from: remote scans take run:RUN_ID:STAGE or artifact:ARTIFACT_ID"
                    " (upload first)",
                    2,
                )
            else:
                body["source"] = "recipe"
        scan = client.request("POST", "/sensitivity", json=body)
    except ValueError:
        _fail(f"--from: expected run:RUN_ID:STAGE or artifact:ARTIFACT_ID, got {source!r}", 2)
    except ClientError as exc:
        _fail(exc.message)
    console.print(
        f"scan {scan['id']} {scan['status']}: {client.config.server}/sensitivity/{scan['id']}"
    )


def register_sensitivity_commands(app: typer.Typer) -> None:
    """Add `sensitivity` to the `winoprune` app."""
    app.command()(sensitivity)
