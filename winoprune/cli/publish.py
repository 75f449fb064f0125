"""Publishing a local run folder (``winoprune run --out DIR``) to the service's tracking API:
its recipe, ``metrics.jsonl``, ``layers.csv`` and final stage checkpoints.

``DIR/track.json`` remembers the external run (and the Idempotency-Key that created it), so a
publication that was interrupted, or ``--track`` resumed, continues the same run; rows already
stored are skipped by the service (natural keys), so nothing is ever duplicated.
"""

from __future__ import annotations

import csv
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from winoprune.cli.client import TERMINAL_STATES, Client, ClientError
from winoprune.cli.tracker import ROWS_PER_REQUEST, layer_row, metric_rows, retried
from winoprune.training import checkpoints as ckpt

STATE_FILE = "track.json"
EPOCH_FIELDS = ("stage", "stage_type", "epoch")
INT_FIELDS = ("numel", "nnz", "multiplications", "mult_direct", "mult_activation_sparse")
FLOAT_FIELDS = ("sparsity", "activation_density")


@dataclass
class Published:
    """What one publication sent (rows the service did not have before)."""

    run_id: int
    metrics: int = 0
    layers: int = 0
    checkpoints: int = 0


def is_finished(out: Path) -> bool:
    """A local run is finished once ``winoprune run`` wrote its report."""
    return (out / "report.html").is_file()


def read_records(out: Path) -> list[dict[str, Any]]:
    """The epoch records of metrics.jsonl (an unfinished last line is left out)."""
    path = out / "metrics.jsonl"
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8").split("\n")[:-1]  # the text after the last \n
    return [json.loads(line) for line in lines if line.strip()]


def read_layers(out: Path) -> list[dict[str, Any]]:
    """The rows of layers.csv typed as the API wants them."""
    path = out / "layers.csv"
    if not path.is_file() or path.stat().st_size == 0:
        return []
    rows = []
    with path.open(newline="", encoding="utf-8") as handle:
        for raw in csv.DictReader(handle):
            row: dict[str, Any] = {"layer": raw["layer"], "domain": raw["domain"]}
            for name in INT_FIELDS:
                row[name] = int(raw[name]) if raw.get(name) else None
            for name in FLOAT_FIELDS:
                row[name] = float(raw[name]) if raw.get(name) else None
            rows.append(layer_row(int(raw["stage"]), int(raw["epoch"]), row))
    return rows


def external_run(client: Client, out: Path, project_id: int, recipe_text: str) -> int:
    """The external run of ``out`` (created on first use, found again afterwards)."""
    state_path = out / STATE_FILE
    state = json.loads(state_path.read_text()) if state_path.is_file() else {}
    if state.get("server") != client.config.server:
        state = {"server": client.config.server, "key": f"dir-{uuid.uuid4().hex}"}
        state_path.write_text(json.dumps(state))  # before creating: a retry reuses the key
    body = {"project": project_id, "recipe": recipe_text}
    run = retried(client.create_external, body, state["key"])
    if state.get("run_id") != run["id"]:
        state_path.write_text(json.dumps({**state, "run_id": run["id"]}))
    return int(run["id"])


def stage_states(records: list[dict[str, Any]], finished: bool) -> list[dict[str, Any]]:
    """Every stage seen: succeeded, but the last one of an unfinished run is running."""
    types: dict[int, str] = {}
    for record in records:
        types.setdefault(int(record["stage"]), str(record.get("stage_type") or "train"))
    last = max(types, default=None)
    return [
        {"index": i, "type": t, "status": "running" if i == last and not finished else "succeeded"}
        for i, t in sorted(types.items())
    ]


def publish_dir(client: Client, run_id: int, out: Path, finish: bool | None = None) -> Published:
    """Send what ``out`` holds to run ``run_id``; end the run when the local run finished
    (``finish`` None) or when told to."""
    finished = is_finished(out) if finish is None else finish
    done = Published(run_id)
    if retried(client.run, run_id)["status"] in TERMINAL_STATES:
        return done  # published to the end before: the service takes no more rows
    records, layers = read_records(out), read_layers(out)
    metrics = [
        row
        for r in records
        for row in metric_rows(
            int(r["stage"]),
            int(r["epoch"]),
            {k: v for k, v in r.items() if k not in EPOCH_FIELDS},
        )
    ]
    stages = stage_states(records, finished)
    for start in range(0, max(len(layers), len(metrics), 1), ROWS_PER_REQUEST):
        batch = {
            "metrics": metrics[start : start + ROWS_PER_REQUEST],
            "layers": layers[start : start + ROWS_PER_REQUEST],
            "stages": stages if start == 0 else [],
        }
        stored = retried(client.post_batch, run_id, batch)
        done.metrics += stored["metrics"]
        done.layers += stored["layers"]
    for meta, path in ckpt.list_checkpoints(out / "checkpoints"):
        if meta.stage_done:
            retried(client.upload_checkpoint, run_id, path, meta.stage, meta.epoch, True)
            done.checkpoints += 1
    if finished:
        try:
            retried(client.finish, run_id, "succeeded", None)
        except ClientError as exc:
            if exc.status != 409:  # already ended otherwise (e.g. failed): leave it so
                raise
    return done
