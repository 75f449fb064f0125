"""`winoprune export CHECKPOINT --out DIR [--benchmark]`, and `winoprune inspect DIR` on an
export: the deployable sparse-Winograd model of ``winoprune.runtime``."""

from __future__ import annotations

import datetime as dt
import json
import platform
import socket
from pathlib import Path
from typing import Annotated, Any

import torch
import typer
from rich.console import Console

from winoprune.cli.inspection import format_reduction, load_checkpoint_model
from winoprune.cli.remote_base import Server, Token
from winoprune.runtime import export as rt_export
from winoprune.runtime import load_export, read_manifest
from winoprune.runtime.speed import counted, measure
from winoprune.training import checkpoints as ckpt

console = Console(soft_wrap=True)


def cpu_name() -> str:
    """The CPU's model name (Linux /proc/cpuinfo), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and ":" in line:
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def benchmark_export(folder: Path, batch: int, threads: int, repeats: int) -> dict[str, Any]:
    """Time the export in ``folder`` against conv2d and write ``speed.json`` into it."""
    torch.set_num_threads(threads)
    model, manifest = load_export(folder)
    speed = measure(model, manifest["input_shape"], batch, repeats)
    speed.update(
        date=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        # the host name tells measurements apart (the service keeps one per host and setting)
        machine={"name": socket.gethostname(), "cpu": cpu_name(), "torch": torch.__version__},
        weights_sha256=manifest["weights_sha256"],
    )
    (folder / rt_export.SPEED).write_text(json.dumps(speed, indent=1) + "\n")
    return speed


def export_command(
    checkpoint: Annotated[Path, typer.Argument(help="a pruned .safetensors checkpoint")],
    out: Annotated[Path, typer.Option("--out", help="export folder to write")],
    benchmark: Annotated[
        bool, typer.Option("--benchmark", help="time it against conv2d; writes speed.json")
    ] = False,
    batch: Annotated[int, typer.Option(min=1, help="benchmark batch size")] = 32,
    threads: Annotated[int, typer.Option(min=1, help="benchmark torch threads")] = 2,
    repeats: Annotated[int, typer.Option(min=1, help="benchmark timed repeats")] = 5,
    publish: Annotated[
        int | None,
        typer.Option("--publish", help="with --benchmark: send speed.json to this run"),
    ] = None,
    server: Server = None,
    token: Token = None,
) -> None:
    """Write a pruned checkpoint as a deployable sparse-Winograd model (safetensors + JSON)."""
    if publish is not None and not benchmark:
        console.print("[red]error:[/red] publish: --publish needs --benchmark (nothing measured)")
        raise typer.Exit(2)
    try:
        model, recipe, tf = load_checkpoint_model(checkpoint)
        input_shape = tuple(vars(model)["input_shape"])  # set by build_model
        info = {"model": recipe.model.name, "width": recipe.model.width, "recipe": recipe.name}
        info["checkpoint"] = checkpoint.name
        info["stage"] = ckpt.read_meta(checkpoint.with_suffix(".json")).stage
        manifest = rt_export.export_model(model, tf, out, input_shape, info)
    except (ValueError, FileNotFoundError, TypeError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    layers = [op for op in manifest["ops"] if op["op"] == "winograd_conv"]
    console.print(f"exported {len(layers)} Winograd layers ({tf.name}) to {out}")
    if benchmark:
        speed = benchmark_export(out, batch, threads, repeats)
        console.print(
            f"measured at batch {batch}, {threads} threads: {speed['speedup']:.2f}x conv2d "
            f"({speed['images_per_s']['sparse_winograd']:.0f} vs "
            f"{speed['images_per_s']['conv2d']:.0f} images/s); written {out / rt_export.SPEED}"
        )
    if publish is not None:
        from winoprune.cli.speed_publish import publish_or_exit

        publish_or_exit(server, token, publish, out)


def inspect_export(folder: Path) -> list[dict[str, Any]]:
    """Rows per Winograd layer of an export: storage, sparsity, counted reduction versus direct
    convolution and, when ``speed.json`` is there (``export --benchmark``), the measured one."""
    model, manifest = load_export(folder)  # validates hashes and indices
    speed_path = Path(folder) / rt_export.SPEED
    speed = json.loads(speed_path.read_text()) if speed_path.is_file() else None
    if speed is not None and speed.get("weights_sha256") != manifest["weights_sha256"]:
        speed = None  # measured on other weights
    counts = counted(manifest)
    strategies = model.layer_strategies()
    rows = []
    for op in manifest["ops"]:
        if op["op"] != "winograd_conv":
            continue
        name, mults = op["name"], counts[op["name"]]
        measured = (speed or {}).get("layers", {}).get(name)
        rows.append(
            {
                "layer": name,
                "shape": "x".join(map(str, op["shape"])),
                "storage": op["storage"],
                "product": strategies[name],
                "Winograd": f"{op['sparsity']:.2%}",
                "mult direct": mults["direct"],
                "mult sparse W": mults["sparse"],
                "counted vs direct": format_reduction(mults["direct"] / max(mults["sparse"], 1)),
                "measured vs conv2d": format_reduction(measured["speedup"]) if measured else "-",
            }
        )
    if speed is not None:
        total_direct = sum(c["direct"] for c in counts.values())
        total_sparse = sum(c["sparse"] for c in counts.values())
        rows.append(
            {
                "layer": f"network (batch {speed['batch']}, {speed['threads']} threads)",
                **{key: "" for key in ("shape", "storage", "product", "Winograd")},
                "mult direct": total_direct,
                "mult sparse W": total_sparse,
                "counted vs direct": format_reduction(total_direct / max(total_sparse, 1)),
                "measured vs conv2d": format_reduction(speed["speedup"]),
            }
        )
    return rows


def register_export_commands(app: typer.Typer) -> None:
    """Add `export` to the CLI (main.py calls this)."""
    app.command("export")(export_command)


__all__ = ["benchmark_export", "inspect_export", "read_manifest", "register_export_commands"]
