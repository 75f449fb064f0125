"""Publishing runs made outside the workers to a winoprune service (its tracking API).

``Tracker`` is pipeline callbacks (pass it to ``Pipeline``, or fan it out beside others with
``FanOut``) and a small logger for your own loop::

    with Tracker.start(project="alpha", name="my-loop", description="my training script") as t:
        t.log_epoch(stage=0, epoch=1, metrics={"top1": 0.91}, layers=layer_stats(model, shape))

Every write is idempotent (batch keys per epoch, natural keys per row), so a retried or resumed
publication never duplicates a row; ``publish_dir`` sends a local run folder (``metrics.jsonl``,
``layers.csv``, ``checkpoints/``) the same way (``winoprune push``, ``winoprune run --track``).
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from winoprune.cli.client import Client, ClientError, resolve_config
from winoprune.training import checkpoints as ckpt
from winoprune.training.callbacks import Callbacks, EpochReport
from winoprune.training.stages import StagePlan

logger = logging.getLogger("winoprune.tracker")
LAYER_FIELDS = ("layer", "domain", "numel", "nnz", "sparsity", "multiplications")
OPTIONAL_LAYER_FIELDS = ("mult_direct", "activation_density", "mult_activation_sparse")
ROWS_PER_REQUEST = 5_000
RETRIES, RETRY_FIRST_S = 4, 0.5


def metric_rows(stage: int, epoch: int, values: Mapping[str, Any]) -> list[dict[str, Any]]:
    """API metric rows of one (stage, epoch): numbers only, non-finite ones as null."""
    rows = []
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | float | type(None)):
            continue
        number = None if value is None or not math.isfinite(float(value)) else float(value)
        rows.append({"stage": stage, "epoch": epoch, "key": key, "value": number})
    return rows


def layer_row(stage: int, epoch: int, row: Any) -> dict[str, Any]:
    """An API layer row from a ``pruning.metrics.LayerStat`` (or a dict with its fields)."""
    values = asdict(row) if is_dataclass(row) and not isinstance(row, type) else dict(row)
    out: dict[str, Any] = {"stage": stage, "epoch": epoch}
    out.update({name: values[name] for name in LAYER_FIELDS})
    out.update({n: values[n] for n in OPTIONAL_LAYER_FIELDS if values.get(n) is not None})
    return out


class Tracker(Callbacks):
    """Sends a run's stages, epochs, checkpoints and end to an external run of the service."""

    def __init__(self, client: Client, run_id: int, upload_checkpoints: bool = True) -> None:
        self.client, self.run_id = client, run_id
        self.upload_checkpoints = upload_checkpoints
        self.finished = False

    @classmethod
    def start(
        cls,
        project: str | None = None,
        recipe: Mapping[str, Any] | str | None = None,
        description: str | None = None,
        name: str | None = None,
        key: str | None = None,
        server: str | None = None,
        token: str | None = None,
        **fields: Any,
    ) -> Tracker:
        """Create (or, with the same ``key``, find again) an external run; server, token and
        project as the remote commands resolve them (options, WINOPRUNE_*, config file)."""
        config = resolve_config(server, token, project)
        if not config.token:
            raise ClientError(0, "token: set WINOPRUNE_TOKEN or 'token' in the config file")
        if not config.project:
            raise ClientError(0, "project: give a project (or WINOPRUNE_PROJECT, config)")
        client = Client(config)
        body: dict[str, Any] = {"project": client.project_id(config.project), **fields}
        body.update({k: v for k, v in (("recipe", recipe), ("description", description),
                                       ("name", name)) if v is not None})  # fmt: skip
        run = retried(client.create_external, body, key or f"tracker-{uuid.uuid4().hex}")
        return cls(client, int(run["id"]))

    # -- your own loop ------------------------------------------------------------------------
    def log_epoch(
        self,
        stage: int,
        epoch: int,
        metrics: Mapping[str, Any],
        layers: Iterable[Any] = (),
        stage_type: str | None = None,
    ) -> None:
        """One epoch's metrics and per-layer rows (``LayerStat`` or dicts) of ``stage``."""
        stages = [{"index": stage, "type": stage_type or "train", "status": "running"}]
        rows = [layer_row(stage, epoch, row) for row in layers]
        self.send(metric_rows(stage, epoch, metrics), rows, stages, key=f"s{stage}-e{epoch}")

    def log_stage(self, index: int, status: str, stage_type: str | None = None) -> None:
        """A stage's state: running, succeeded, failed, ..."""
        self.send([], [], [{"index": index, "type": stage_type, "status": status}])

    def send(
        self,
        metrics: list[dict[str, Any]],
        layers: list[dict[str, Any]],
        stages: list[dict[str, Any]] | None = None,
        key: str | None = None,
    ) -> None:
        """Post rows in requests of at most ROWS_PER_REQUEST layer rows, retried on failure."""
        stages = [{k: v for k, v in s.items() if v is not None} for s in stages or []]
        chunks = [layers[i : i + ROWS_PER_REQUEST] for i in range(0, len(layers), ROWS_PER_REQUEST)]
        for i, chunk in enumerate(chunks or [[]]):
            batch: dict[str, Any] = {"layers": chunk}
            if i == 0:
                batch.update(metrics=metrics, stages=stages)
            if key is not None:
                batch["key"] = f"{key}-{i}"
            retried(self.client.post_batch, self.run_id, batch)

    def finish(self, status: str = "succeeded", error: str | None = None) -> None:
        """End the run (succeeded, failed or cancelled)."""
        retried(self.client.finish, self.run_id, status, error)
        self.finished = True

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, kind: Any, error: Any, _tb: Any) -> None:
        if not self.finished:
            self.finish(
                "succeeded" if kind is None else "failed", None if kind is None else str(error)
            )
        self.client.close()

    # -- pipeline callbacks -------------------------------------------------------------------
    def on_stage_start(self, plan: StagePlan) -> None:
        self.send([], [], [{"index": plan.index, "type": plan.type, "status": "running"}])

    def on_epoch(self, report: EpochReport) -> None:
        values = {**report.metrics, **report.summary}
        rows = [layer_row(report.stage, report.epoch, row) for row in report.layers]
        self.send(
            metric_rows(report.stage, report.epoch, values),
            rows,
            [{"index": report.stage, "type": report.stage_type, "status": "running"}],
            key=f"s{report.stage}-e{report.epoch}",
        )

    def on_stage_end(self, plan: StagePlan, result: dict[str, Any]) -> None:
        self.send([], [], [{"index": plan.index, "type": plan.type, "status": "succeeded"}])

    def on_checkpoint(self, path: Path, meta: ckpt.CheckpointMeta) -> None:
        if self.upload_checkpoints and meta.stage_done:
            retried(self.client.upload_checkpoint, self.run_id, path, meta.stage, meta.epoch, True)


def retried(call: Any, *args: Any) -> Any:
    """``call(*args)``, again after a transport error, 429 or 5xx (the writes are idempotent)."""
    delay = RETRY_FIRST_S
    for attempt in range(RETRIES + 1):
        try:
            return call(*args)
        except ClientError as exc:
            if attempt == RETRIES or not (
                exc.status == 0 or exc.status == 429 or exc.status >= 500
            ):
                raise
            logger.warning("tracking: %s; retrying in %.1f s", exc, delay)
            time.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")


class FanOut(Callbacks):
    """Several callbacks as one (e.g. the CLI's files and progress bars, and a Tracker)."""

    def __init__(self, *callbacks: Callbacks) -> None:
        self.callbacks = callbacks

    def on_plan(self, plan: list[StagePlan]) -> None:
        for cb in self.callbacks:
            cb.on_plan(plan)

    def on_stage_start(self, plan: StagePlan) -> None:
        for cb in self.callbacks:
            cb.on_stage_start(plan)

    def on_epoch(self, report: EpochReport) -> None:
        for cb in self.callbacks:
            cb.on_epoch(report)

    def on_stage_end(self, plan: StagePlan, result: dict[str, Any]) -> None:
        for cb in self.callbacks:
            cb.on_stage_end(plan, result)

    def on_checkpoint(self, path: Path, meta: ckpt.CheckpointMeta) -> None:
        for cb in self.callbacks:
            cb.on_checkpoint(path, meta)

    def on_log(self, message: str) -> None:
        for cb in self.callbacks:
            cb.on_log(message)

    def should_stop(self) -> bool:
        return any(cb.should_stop() for cb in self.callbacks)
