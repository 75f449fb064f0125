"""Run lists: filters parsed into bound SQL, keyset pagination with an opaque cursor.

Sorts by time or status list every run; a sort by a metric (``top1``, ``winograd_sparsity``,
``mult_reduction``, ``loss``: the run's final value) lists the runs that have that value."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, exists, func, literal, or_, select, tuple_
from sqlalchemy.orm import Session

from server.db.models import Run, RunTag, User
from server.errors import ApiError
from server.projects.service import member_project_ids, require_role
from server.results.reduction import pop_latest
from server.runs.metric_filters import FINAL_COLUMNS, METRICS, MetricFilter

SortKey = Literal[
    "created",
    "updated",
    "status",
    "name",
    "method",
    "model",
    "dataset",
    "tile",
    "top1",
    "winograd_sparsity",
    "mult_reduction",
    "loss",
]
SORT_COLUMNS: dict[str, Any] = {
    "created": Run.created_at,
    "updated": Run.updated_at,
    "status": Run.status,
    "name": Run.name,
    "method": Run.method,
    "model": Run.model_name,
    "dataset": Run.dataset_name,
    "tile": Run.tile,  # nullable, like the metrics: a tile sort lists the runs that have one
    **FINAL_COLUMNS,
}
NULLABLE_SORTS = {"tile", *METRICS}
TIME_SORTS = {"created", "updated"}


@dataclass
class RunFilters:
    """What the caller asked for; every value ends up as a bound parameter."""

    project: int | None = None
    status: list[str] | None = None
    method: str | None = None
    model: str | None = None
    dataset: str | None = None
    tile: str | None = None
    # issue 16: substring search over name, method, model, data set, tile and tags
    q: str | None = None
    owner: str | None = None
    tag: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    external: bool | None = None
    archived: bool = False  # issue 16: include archived runs (hidden by default)
    metrics: list[MetricFilter] = field(default_factory=list)
    sort: SortKey = "created"
    order: Literal["asc", "desc"] = "desc"
    limit: int = 50
    cursor: str | None = None


def encode_cursor(sort: str, order: str, value: Any, run_id: int) -> str:
    """Opaque cursor for the row after which the next page starts."""
    raw = value.isoformat() if isinstance(value, datetime) else value
    payload = json.dumps({"s": sort, "o": order, "v": raw, "i": run_id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str, order: str) -> tuple[Any, int]:
    """(sort value, run id) from a cursor made for the same sort and order; else 422."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if payload["s"] != sort or payload["o"] != order:
            raise ValueError("sort")
        value = payload["v"]
        if sort in METRICS:
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise ValueError("value")
            value = float(value)
        elif sort in TIME_SORTS:
            value = datetime.fromisoformat(value)
        elif not isinstance(value, str):  # status and the text columns
            raise ValueError("value")
        return value, int(payload["i"])
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ApiError(
            422, "cursor: invalid, or made for another sort/order", field="cursor"
        ) from None


def _search(text: str) -> ColumnElement[bool]:
    """Case-insensitive substring match ("native" finds native-winograd); LIKE's wildcards in
    the text match themselves (escaped), the text is a bound parameter."""
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    columns = (Run.name, Run.method, Run.model_name, Run.dataset_name, Run.tile)
    tagged = exists().where(RunTag.run_id == Run.id, RunTag.tag.ilike(pattern, escape="\\"))
    return or_(*(column.ilike(pattern, escape="\\") for column in columns), tagged)


def _conditions(session: Session, user: User, f: RunFilters) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if f.project is not None:
        require_role(session, user, f.project, "viewer")
        conditions.append(Run.project_id == f.project)
    else:
        conditions.append(Run.project_id.in_(member_project_ids(user)))
    if f.status:
        conditions.append(Run.status.in_(f.status))
    if f.method:
        conditions.append(Run.method == f.method)
    if f.model:
        conditions.append(Run.model_name == f.model)
    if f.dataset:
        conditions.append(Run.dataset_name == f.dataset)
    if f.tile:
        conditions.append(Run.tile == f.tile)
    if f.q:
        conditions.append(_search(f.q))
    if f.owner:
        owner_id = select(User.id).where(User.username == f.owner).scalar_subquery()
        conditions.append(Run.created_by_id == owner_id)
    if f.tag:
        conditions.append(exists().where(RunTag.run_id == Run.id, RunTag.tag == f.tag))
    if f.created_after:
        conditions.append(Run.created_at >= f.created_after)
    if f.created_before:
        conditions.append(Run.created_at < f.created_before)
    if f.external is not None:
        conditions.append(Run.external.is_(f.external))
    if not f.archived:
        conditions.append(Run.archived_at.is_(None))
    conditions.extend(m.condition() for m in f.metrics)
    if f.sort in NULLABLE_SORTS:
        conditions.append(SORT_COLUMNS[f.sort].is_not(None))
    return conditions


# Plain columns (no ORM objects, no recipe JSON): lists are the hottest read path.
LIST_COLUMNS = (
    Run.id,
    Run.project_id,
    Run.name,
    Run.status,
    Run.method,
    Run.model_name.label("model"),
    Run.dataset_name.label("dataset"),
    Run.tile,
    Run.recipe_sha256,
    User.username.label("owner"),
    Run.notes,
    Run.attempt_count,
    Run.error,
    Run.cancel_requested,
    Run.device,
    Run.progress_stage,
    Run.progress_epoch,
    Run.created_at,
    Run.updated_at,
    Run.started_at,
    Run.finished_at,
    Run.archived_at,
    Run.external,
    *(column.label(f"final_{name}") for name, column in FINAL_COLUMNS.items()),
    # tags in the same query (match the TagStr pattern, so never hold a comma)
    select(func.aggregate_strings(RunTag.tag, ","))
    .where(RunTag.run_id == Run.id)
    .correlate(Run)
    .scalar_subquery()
    .label("tags"),
    # the latest multiplication totals (kept on the row by runs.summary) -> RunOut.mult_reduction
    Run.latest_mult_direct,
    Run.latest_mult_sparse,
)
# built once (statements are immutable): a page only adds its conditions, keyset and order
LIST_QUERY = select(*LIST_COLUMNS).outerjoin(User, User.id == Run.created_by_id)


def list_runs(
    session: Session, user: User, f: RunFilters
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the user's runs (as RunOut fields) and the next page's cursor (None: end)."""
    column = SORT_COLUMNS[f.sort]
    query = LIST_QUERY.where(*_conditions(session, user, f))
    if f.cursor:
        value, last_id = decode_cursor(f.cursor, f.sort, f.order)
        keyset = tuple_(column, Run.id)
        # Typed literals: SQLite compares the stored text form, so bind through the column type.
        bound = tuple_(literal(value, column.type), literal(last_id, Run.id.type))
        query = query.where(keyset < bound if f.order == "desc" else keyset > bound)
    ordering = (column.desc(), Run.id.desc()) if f.order == "desc" else (column.asc(), Run.id.asc())
    result = session.connection().execute(query.order_by(*ordering).limit(f.limit + 1))
    keys = list(result.keys())
    rows = [dict(zip(keys, row, strict=True)) for row in result]
    next_cursor = None
    if len(rows) > f.limit:
        rows = rows[: f.limit]
        key = f.sort if f.sort in ("model", "dataset") else column.key  # labelled columns
        next_cursor = encode_cursor(f.sort, f.order, rows[-1][key], rows[-1]["id"])
    for row in rows:
        row["tags"] = sorted(row["tags"].split(",")) if row["tags"] else []
        row["progress"] = {"stage": row.pop("progress_stage"), "epoch": row.pop("progress_epoch")}
        row["final"] = {name: row.pop(f"final_{name}") for name in METRICS}
        reduction = pop_latest(row)
        row["mult_reduction"] = row["final"]["mult_reduction"] if reduction is None else reduction
    return rows, next_cursor
