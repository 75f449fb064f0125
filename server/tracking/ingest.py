"""Storing a batch of an external run: bulk inserts that skip rows already stored (INSERT ..
ON CONFLICT DO NOTHING on SQLite and PostgreSQL, many rows per statement), the stage states,
the summary columns and the change notices, all in one transaction."""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from server.db.base import utcnow
from server.db.models import TERMINAL_STATES, LayerStat, Metric, Run, Stage, TrackingBatch
from server.errors import ApiError, field_errors
from server.events.service import publish
from server.runs.summary import refresh_summary
from server.tracking.schemas import Batch, BatchResult, StageRow

METRIC_KEYS = ["run_id", "stage", "epoch", "key"]
LAYER_KEYS = ["run_id", "stage", "epoch", "layer", "domain"]
# the row values in these orders, natural key first (the run id last)
METRIC_COLUMNS = ("stage", "epoch", "key", "value", "run_id")
LAYER_COLUMNS = (
    "stage", "epoch", "layer", "domain", "numel", "nnz", "sparsity", "multiplications",
    "mult_direct", "activation_density", "mult_activation_sparse",
)  # fmt: skip
LAYER_ROW = (*LAYER_COLUMNS, "run_id")
FINISHED_STAGE = ("succeeded", "failed", "cancelled", "skipped")


def insert_new(
    session: Session,
    table: Any,
    columns: tuple[str, ...],
    rows: list[tuple[Any, ...]],
    keys: list[str],
) -> int:
    """Insert the rows (tuples in ``columns`` order) whose natural key is not stored yet, in
    one driver call: SQLite executemany, PostgreSQL one INSERT .. SELECT FROM unnest(arrays).
    Table and column names are the model's own, every value a bound parameter. Returns the
    number of rows inserted."""
    if not rows:
        return 0
    connection = session.connection()
    names, conflict = ", ".join(columns), ", ".join(keys)
    if connection.dialect.name == "sqlite":
        marks = ", ".join("?" for _ in columns)
        sql = f"INSERT INTO {table.name} ({names}) VALUES ({marks})"  # noqa: S608 (model names)
        sql += f" ON CONFLICT ({conflict}) DO NOTHING"
        return int(connection.exec_driver_sql(sql, rows).rowcount)
    types = [table.c[name].type.compile(dialect=connection.dialect) for name in columns]
    arrays = ", ".join(f"%s::{kind}[]" for kind in types)
    sql = (
        f"INSERT INTO {table.name} ({names}) SELECT * FROM unnest({arrays})"  # noqa: S608
        f" ON CONFLICT ({conflict}) DO NOTHING"
    )
    return int(
        connection.exec_driver_sql(sql, tuple(list(c) for c in zip(*rows, strict=True))).rowcount
    )


def _check_layers(layers: list[Any]) -> None:
    for i, row in enumerate(layers):
        if row["nnz"] > row["numel"]:
            raise field_errors(
                [{"loc": f"layers.{i}.nnz", "msg": "must not exceed numel"}], prefix=("body",)
            )


def _unique(rows: list[tuple[Any, ...]], width: int, keys: list[str], name: str) -> None:
    """422 naming the first row whose natural key (the first ``width`` values) repeats."""
    if len({row[:width] for row in rows}) == len(rows):
        return
    seen: set[tuple[Any, ...]] = set()
    for i, row in enumerate(rows):
        if row[:width] in seen:
            message = f"duplicate of an earlier row on ({', '.join(keys[1:])})"
            raise field_errors([{"loc": f"{name}.{i}", "msg": message}], prefix=("body",))
        seen.add(row[:width])


def _apply_stages(session: Session, run: Run, rows: list[StageRow]) -> int:
    existing = {s.index: s for s in session.scalars(select(Stage).where(Stage.run_id == run.id))}
    now = utcnow()
    for i, row in enumerate(rows):
        stage = existing.get(row.index)
        if stage is None:
            if row.type is None:
                message = f"required: stage {row.index} is new"
                raise field_errors([{"loc": f"stages.{i}.type", "msg": message}], ("body",))
            stage = existing[row.index] = Stage(run_id=run.id, index=row.index, type=row.type)
            session.add(stage)
        if row.type is not None:
            stage.type = row.type
        if row.target is not None:
            stage.target = row.target
        if row.status == "running" and stage.started_at is None:
            stage.started_at = now
        if row.status in FINISHED_STAGE and stage.status not in FINISHED_STAGE:
            stage.finished_at = now
            if stage.started_at is not None:
                stage.duration_s = (now - stage.started_at).total_seconds()
        stage.status = row.status
    session.flush()
    return len(rows)


def _replayed(session: Session, run_id: int, key: str) -> BatchResult | None:
    """The stored result of a batch key already taken (None: a new key)."""
    dialect = sqlite if session.get_bind().dialect.name == "sqlite" else postgresql
    table = TrackingBatch.__table__
    taken = session.execute(
        dialect.insert(table)
        .values(run_id=run_id, key=key, metrics=0, layers=0, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["run_id", "key"])
        .returning(table.c.key)
    )
    if taken.first() is not None:
        return None
    stored = session.get(TrackingBatch, (run_id, key))
    assert stored is not None
    return BatchResult(
        key=key, replayed=True, metrics=stored.metrics, layers=stored.layers, stages=0
    )


def store_batch(session: Session, run: Run, batch: Batch) -> BatchResult:
    """Store a validated batch (see the module docstring); commits."""
    if batch.key is not None and (earlier := _replayed(session, run.id, batch.key)) is not None:
        session.rollback()
        return earlier
    if run.status in TERMINAL_STATES:
        raise ApiError(409, f"status: the run is {run.status}; it takes no more rows", "status")
    run_id = run.id  # once: an ORM attribute read per row costs as much as the row
    metrics = [
        (m["stage"], m["epoch"], m["key"], _finite(m.get("value")), run_id) for m in batch.metrics
    ]
    layers = [
        (
            r["stage"], r["epoch"], r["layer"], r["domain"], r["numel"], r["nnz"], r["sparsity"],
            r["multiplications"], r.get("mult_direct"), r.get("activation_density"),
            r.get("mult_activation_sparse"), run_id,
        )
        for r in batch.layers
    ]  # fmt: skip
    _unique(metrics, 3, METRIC_KEYS, "metrics")
    _unique(layers, 4, LAYER_KEYS, "layers")
    _check_layers(batch.layers)
    stages = _apply_stages(session, run, batch.stages)
    new_metrics = insert_new(session, Metric.__table__, METRIC_COLUMNS, metrics, METRIC_KEYS)
    new_layers = insert_new(session, LayerStat.__table__, LAYER_ROW, layers, LAYER_KEYS)
    if batch.key is not None:
        stored = session.get(TrackingBatch, (run.id, batch.key))
        assert stored is not None
        stored.metrics, stored.layers = new_metrics, new_layers
    points: set[tuple[int, int]] = {(m["stage"], m["epoch"]) for m in batch.metrics}
    points |= {(r["stage"], r["epoch"]) for r in batch.layers}
    if metrics:
        refresh_summary(session, run.id, {stage for stage, _ in points})
    if points:
        latest = max(points)
        if run.progress_stage is None or latest >= (run.progress_stage, run.progress_epoch or 0):
            run.progress_stage, run.progress_epoch = latest
    run.updated_at = utcnow()
    session.flush()
    session.expire(run, ["final_top1", "final_winograd_sparsity"])  # written by refresh_summary
    _notify(session, run, points, stages)
    session.commit()
    return BatchResult(
        key=batch.key, replayed=False, metrics=new_metrics, layers=new_layers, stages=stages
    )


def _notify(session: Session, run: Run, points: set[tuple[int, int]], stages: int) -> None:
    for stage, epoch in sorted(points):
        publish(session, run.project_id, run.id, "metrics", stage=stage, epoch=epoch)
        publish(session, run.project_id, run.id, "layers", stage=stage, epoch=epoch)
    if points:
        stage, epoch = max(points)
        publish(
            session,
            run.project_id,
            run.id,
            "run.progress",
            stage=stage,
            epoch=epoch,
            top1=run.final_top1,
            winograd_sparsity=run.final_winograd_sparsity,
        )
    if stages:
        publish(session, run.project_id, run.id, "run.updated", status=run.status)


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None
