"""Run-list filters and sorts by metric (issue 15), parsed by one strict regular expression
into bound SQL (never evaluated).

Grammar of one ``filter`` query parameter (repeat it; all must hold)::

    filter  := [ "stage" INDEX "." ] METRIC OP NUMBER
    METRIC  := top1 | winograd_sparsity | mult_reduction | loss
    OP      := >= | <= | > | < | = | !=
    INDEX   := an integer (-1: dense pre-training, 0..: the recipe's stages)

Without a stage the run's final value (at its latest stage and epoch) is compared; with one,
that stage's value at its last epoch. A run without the value never matches. Examples:
``top1>=0.7``, ``stage1.winograd_sparsity>0.5``, ``loss<0.4``.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, exists

from server.db.models import Run, Stage
from server.errors import ApiError, field_errors

METRICS = ("top1", "winograd_sparsity", "mult_reduction", "loss")
FINAL_COLUMNS: dict[str, Any] = {
    "top1": Run.final_top1,
    "winograd_sparsity": Run.final_winograd_sparsity,
    "mult_reduction": Run.final_mult_reduction,
    "loss": Run.final_loss,
}
STAGE_COLUMNS: dict[str, Any] = {
    "top1": Stage.accuracy,
    "winograd_sparsity": Stage.sparsity,
    "mult_reduction": Stage.mult_reduction,
    "loss": Stage.loss,
}
OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "=": operator.eq,
    "!=": operator.ne,
}
NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d{1,3})?"
FILTER = re.compile(
    rf"^(?:stage(?P<stage>-?\d{{1,6}})\.)?(?P<metric>[a-z0-9_]{{1,40}})"
    rf"(?P<op>>=|<=|!=|>|<|=)(?P<value>{NUMBER})$"
)
FILTER_HELP = (
    "metric filter, repeatable (all must hold): [stage<N>.]<metric><op><number> with metric "
    "top1, winograd_sparsity, mult_reduction or loss and op >=, <=, >, <, = or !=; without a "
    "stage the run's final value, with one that stage's last epoch; e.g. top1>=0.7"
)
SORT_HELP = (
    "a time, the status, the name, method, model, data set or tile, or a final metric (a metric"
    " or tile sort lists the runs that have one)"
)
SYNTAX = "expected [stage<N>.]<metric><op><number>, e.g. top1>=0.7 or stage1.loss<0.5"


@dataclass(frozen=True)
class MetricFilter:
    """One parsed comparison."""

    metric: str
    op: str
    value: float
    stage: int | None = None

    def condition(self) -> ColumnElement[bool]:
        """The comparison as SQL with the value bound."""
        compare = OPERATORS[self.op]
        if self.stage is None:
            column = FINAL_COLUMNS[self.metric]
            return column.is_not(None) & compare(column, self.value)
        column = STAGE_COLUMNS[self.metric]
        return exists().where(
            Stage.run_id == Run.id,
            Stage.index == self.stage,
            column.is_not(None),
            compare(column, self.value),
        )


def _reject(position: int, text: str, message: str) -> ApiError:
    return field_errors([{"loc": f"filter.{position}", "msg": f"{text!r}: {message}"}], ("query",))


def parse_filter(text: str, position: int = 0) -> MetricFilter:
    """One ``filter`` parameter; 422 naming the parameter, its position and the rule."""
    match = FILTER.match(text.replace(" ", ""))
    if match is None:
        raise _reject(position, text, SYNTAX)
    metric = match["metric"]
    if metric not in METRICS:
        raise _reject(position, text, f"unknown metric {metric!r} (one of {', '.join(METRICS)})")
    value = float(match["value"])
    if value != value or abs(value) == float("inf"):
        raise _reject(position, text, "the number must be finite")
    stage = int(match["stage"]) if match["stage"] is not None else None
    if stage is not None and not -1 <= stage <= 10_000:
        raise _reject(position, text, "the stage index must be -1 .. 10000")
    return MetricFilter(metric, match["op"], value, stage)


def parse_filters(texts: list[str] | None) -> list[MetricFilter]:
    """Every ``filter`` parameter, in order."""
    return [parse_filter(text, i) for i, text in enumerate(texts or [])]
