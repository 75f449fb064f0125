"""Publishing an export's measured speed (``speed.json`` of ``winoprune export --benchmark``)
to a run on the service: ``winoprune push-speed EXPORT_DIR --run RUN_ID`` and
``winoprune export ... --benchmark --publish RUN_ID``. The service keeps one row per (run,
weights, batch, threads, machine), so publishing the same file again adds nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from winoprune.cli.client import Client, ClientError
from winoprune.cli.remote_base import Server, Token, _client, _fail, console
from winoprune.cli.run_summary import speed_line
from winoprune.cli.tracker import retried
from winoprune.runtime import export as rt_export

UNKNOWN_MACHINE = "unknown"


def speed_body(folder: Path) -> dict[str, Any]:
    """The POST /runs/{id}/speed body of an export folder's speed.json; ValueError naming the
    file when it is missing or was measured on other weights than the folder's."""
    folder = Path(folder)
    path = folder / rt_export.SPEED
    if not path.is_file():
        raise ValueError(f"{path}: no speed.json (run `winoprune export ... --benchmark`)")
    manifest = rt_export.read_manifest(folder)
    speed = json.loads(path.read_text(encoding="utf-8"))
    if speed.get("weights_sha256") != manifest["weights_sha256"]:
        raise ValueError(f"{path}: measured on other weights than {folder / rt_export.WEIGHTS}")
    batch, per_s = int(speed["batch"]), speed["images_per_s"]
    machine, info = speed.get("machine") or {}, manifest.get("info") or {}
    return {
        "checkpoint": info.get("checkpoint"),
        "stage": info.get("stage"),
        "weights_sha256": speed["weights_sha256"],
        "batch": batch,
        "threads": int(speed["threads"]),
        "machine": machine.get("name") or machine.get("cpu") or UNKNOWN_MACHINE,
        "cpu": machine.get("cpu"),
        "torch": machine.get("torch"),
        "conv2d_ms": 1e3 * batch / per_s["conv2d"],  # median seconds per batch, as measured
        "export_ms": 1e3 * batch / per_s["sparse_winograd"],
        "speedup": speed["speedup"],
        "measured_at": speed["date"],
        "layers": speed.get("layers") or {},
    }


def publish_speed(client: Client, run_id: int, folder: Path) -> dict[str, Any]:
    """Send the folder's speed.json to run ``run_id``; the stored row (retried while the
    service is unreachable)."""
    return dict(retried(client.post_speed, run_id, speed_body(folder)))


def publish_or_exit(server: str | None, token: str | None, run_id: int, folder: Path) -> None:
    """``publish_speed`` for a command: errors end it with their message."""
    client = _client(server, token)
    try:
        row = publish_speed(client, run_id, folder)
    except (ValueError, OSError) as exc:
        _fail(str(exc), 2)
    except ClientError as exc:
        later = f"publish it later with `winoprune push-speed {folder} --run {run_id}`"
        _fail(f"{exc.message}; {later}")
    finally:
        client.close()
    console.print(f"run {run_id}: {speed_line(row)}: {client.config.server}/runs/{run_id}")


def push_speed(
    export_dir: Annotated[Path, typer.Argument(help="export folder with speed.json")],
    run: Annotated[int, typer.Option("--run", help="the run the export was made from")],
    server: Server = None,
    token: Token = None,
) -> None:
    """Publish an export's measured speed (speed.json) to a run; again: nothing is added."""
    publish_or_exit(server, token, run, export_dir)


def register_speed_commands(app: typer.Typer) -> None:
    """Add push-speed to the `winoprune` app."""
    app.command("push-speed")(push_speed)
