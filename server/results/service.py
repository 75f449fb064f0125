"""Run results as columnar JSON (one list per column) and as CSV/JSON exports."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Select, Text, func, literal, select, text
from sqlalchemy.orm import Session

from server.db.models import LayerStat, Metric
from server.fastjson import dumps
from server.results.reduction import direct_costs, layer_columns

STORED_LAYER_COLUMNS = (
    "stage", "epoch", "layer", "domain", "numel", "nnz", "sparsity", "multiplications",
    # Winograd-ReLU layers' winograd rows only (else null): activation density on the
    # evaluation set and the products per image with both factors nonzero
    "activation_density", "mult_activation_sparse",
    # additions per image and the energy estimate, pJ (winoprune.pruning.operations)
    "additions", "energy_pj",
)  # fmt: skip
# derived (server.results.reduction): the layer's direct cost, and for winograd rows the
# multiplication reduction versus direct convolution (direct / sparse Winograd)
LAYER_COLUMNS = (*STORED_LAYER_COLUMNS, "mult_direct", "mult_reduction")
METRIC_COLUMNS = ("stage", "epoch", "key", "value")
MAX_ROWS = 200_000
EXPORT_BATCH = 5_000


def metrics_columnar(
    session: Session,
    run_id: int,
    after: int = 0,
    stage: int | None = None,
    keys: list[str] | None = None,
) -> dict[str, Any]:
    """Metrics pivoted to points (stage, epoch) with one value list per key.

    {"stage": [...], "epoch": [...], "values": {"loss": [...], ...}, "cursor": last metric id}.
    With `after`, only rows newer than that cursor (their points may be partial: merge by
    (stage, epoch) and keep earlier values where a column is null).
    """
    query = select(Metric.id, Metric.stage, Metric.epoch, Metric.key, Metric.value).where(
        Metric.run_id == run_id, Metric.id > after
    )
    if stage is not None:
        query = query.where(Metric.stage == stage)
    if keys:
        query = query.where(Metric.key.in_(keys))
    rows = session.execute(
        query.order_by(Metric.stage, Metric.epoch, Metric.key).limit(MAX_ROWS)
    ).all()
    points: dict[tuple[int, int], int] = {}
    values: dict[str, dict[int, float | None]] = {}
    cursor = after
    for row_id, row_stage, row_epoch, key, value in rows:
        point = points.setdefault((row_stage, row_epoch), len(points))
        values.setdefault(key, {})[point] = value
        cursor = max(cursor, row_id)
    return {
        "stage": [p[0] for p in points],
        "epoch": [p[1] for p in points],
        "values": {k: [column.get(i) for i in range(len(points))] for k, column in values.items()},
        "cursor": cursor,
    }


def _layer_query(
    run_id: int, stage: int | None, epoch: int | None, domain: str | None, after: int = 0
) -> Select[Any]:
    directs = direct_costs(run_id)
    stored = [getattr(LayerStat, c) for c in STORED_LAYER_COLUMNS]
    query = (
        select(LayerStat.id, *stored, *layer_columns(directs))
        .outerjoin(directs, directs.c.layer == LayerStat.layer)
        .where(LayerStat.run_id == run_id, LayerStat.id > after)
    )
    if stage is not None:
        query = query.where(LayerStat.stage == stage)
    if epoch is not None:
        query = query.where(LayerStat.epoch == epoch)
    if domain is not None:
        query = query.where(LayerStat.domain == domain)
    # Within an (stage, epoch, domain) the id order is the model's layer order.
    return query.order_by(LayerStat.stage, LayerStat.epoch, LayerStat.domain, LayerStat.id)


def layers_columnar(
    session: Session,
    run_id: int,
    stage: int | None = None,
    epoch: int | None = None,
    domain: str | None = None,
    after: int = 0,
) -> dict[str, Any]:
    """Layer statistics as {"stage": [...], "layer": [...], ..., "cursor": last row id}."""
    query = _layer_query(run_id, stage, epoch, domain, after).limit(MAX_ROWS)
    rows = session.connection().execute(query).all()
    ids, *values = zip(*rows, strict=True) if rows else ((),) * (len(LAYER_COLUMNS) + 1)
    columns: dict[str, Any] = {name: list(v) for name, v in zip(LAYER_COLUMNS, values, strict=True)}
    columns["cursor"] = max(ids, default=after)
    return columns


def layers_json(
    session: Session,
    run_id: int,
    stage: int | None = None,
    epoch: int | None = None,
    domain: str | None = None,
    after: int = 0,
) -> str:
    """``{"run_id": ..., **layers_columnar(...)}`` as JSON text. PostgreSQL builds it itself
    (json_agg over the ordered page), which takes most of the cost of a large answer off the
    web process; elsewhere it is built in Python."""
    if session.get_bind().dialect.name != "postgresql":
        columns = layers_columnar(session, run_id, stage, epoch, domain, after)
        return dumps({"run_id": run_id, **columns})
    page = _layer_query(run_id, stage, epoch, domain, after).limit(MAX_ROWS).subquery()
    empty = text("'[]'::json")
    # json_agg consumes the LIMITed, sorted subquery in its order (a tested property)
    fields: list[Any] = [literal("run_id"), literal(run_id)]
    for name in LAYER_COLUMNS:
        fields += [literal(name), func.coalesce(func.json_agg(page.c[name]), empty)]
    fields += [literal("cursor"), func.coalesce(func.max(page.c.id), after)]
    body = select(func.json_build_object(*fields).cast(Text)).select_from(page)
    return str(session.connection().execute(body).scalar_one())


def export_rows(session: Session, run_id: int, table: str) -> tuple[tuple[str, ...], list[Any]]:
    """Column names and rows of a run's metrics or layer statistics.

    Rows are fetched before streaming: the request's session closes before the body is sent.
    """
    if table == "metrics":
        query: Select[Any] = (
            select(*(getattr(Metric, c) for c in METRIC_COLUMNS))
            .where(Metric.run_id == run_id)
            .order_by(Metric.stage, Metric.epoch, Metric.key)
        )
        names: tuple[str, ...] = METRIC_COLUMNS
    else:
        query = _layer_query(run_id, None, None, None)
        names = LAYER_COLUMNS
        return names, [tuple(row)[1:] for row in session.execute(query)]  # without the id
    return names, [tuple(row) for row in session.execute(query)]


def csv_lines(names: tuple[str, ...], rows: list[Any]) -> Iterator[str]:
    """CSV text in chunks, header first."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(names)
    for count, row in enumerate(rows, start=1):
        writer.writerow(row)
        if count % EXPORT_BATCH == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
