"""Recipe field types: range-checked numbers, patterns, the strict base model and the hook
that turns cross-field rules (``rules.py``) into one pydantic error."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    WithJsonSchema,
)
from pydantic import model_validator as _model_validator
from pydantic_core import PydanticCustomError

RULES_ERROR = "recipe_rules"
NAME_PATTERN = r"[A-Za-z0-9._-]{1,100}"
DEVICE_PATTERN = r"auto|cpu|cuda|cuda:\d{1,2}"


def in_range(lo: float, hi: float, lo_open: bool = False, hi_open: bool = False) -> AfterValidator:
    """Validator: a finite number in [lo, hi] ("(" / ")" for open ends)."""
    text = f"{'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}"

    def check(value: float) -> float:
        below = value <= lo if lo_open else value < lo
        above = value >= hi if hi_open else value > hi
        if not math.isfinite(value) or below or above:
            raise ValueError(f"must be in {text}, got {value}")
        return value

    return AfterValidator(check)


def matches(pattern: str, rule: str) -> AfterValidator:
    """Validator: a string matching ``pattern``; the error states ``rule`` in words."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"must be {rule}, got {value!r}")
        return value

    return AfterValidator(check)


def bounds(lo: float, hi: float, lo_open: bool = False, hi_open: bool = False) -> Any:
    """JSON-schema bounds matching ``in_range`` (for forms and REST clients)."""
    return Field(
        json_schema_extra={
            "exclusiveMinimum" if lo_open else "minimum": lo,
            "exclusiveMaximum" if hi_open else "maximum": hi,
        }
    )


Sparsity = Annotated[float, in_range(0, 1, hi_open=True), bounds(0, 1, hi_open=True)]
Epochs = Annotated[int, in_range(0, 100_000), bounds(0, 100_000)]
Milestone = Annotated[int, in_range(1, 100_000), bounds(1, 100_000)]
BatchSize = Annotated[int, in_range(1, 65_536), bounds(1, 65_536)]
SubsetSize = Annotated[int, in_range(1, 100_000_000), bounds(1, 100_000_000)]
LearningRate = Annotated[float, in_range(0, 10, lo_open=True), bounds(0, 10, lo_open=True)]
Momentum = Annotated[float, in_range(0, 1, hi_open=True), bounds(0, 1, hi_open=True)]
WeightDecay = Annotated[float, in_range(0, 1), bounds(0, 1)]
Gamma = Annotated[float, in_range(0, 1, lo_open=True), bounds(0, 1, lo_open=True)]
Damping = Annotated[float, in_range(0, 10), bounds(0, 10)]
Width = Annotated[float, in_range(0, 16, lo_open=True), bounds(0, 16, lo_open=True)]
GradExponent = Annotated[float, in_range(0, 4), bounds(0, 4)]
Pattern = Annotated[str, Field(min_length=1, max_length=200)]
Power = Annotated[float, in_range(0, 10, lo_open=True), bounds(0, 10, lo_open=True)]
Smoothing = Annotated[float, in_range(0, 1, hi_open=True), bounds(0, 1, hi_open=True)]
Factor = Annotated[float, in_range(0, 1, lo_open=True), bounds(0, 1, lo_open=True)]
Temperature = Annotated[float, in_range(0, 100, lo_open=True), bounds(0, 100, lo_open=True)]
Weight = Annotated[float, in_range(0, 1), bounds(0, 1)]
AUTO_LR = "auto"


def _learning_rate_or_auto(value: Any) -> float | str:
    """A learning rate in (0, 10], or "auto" (the stage's lr range test picks it)."""
    if value == AUTO_LR:
        return AUTO_LR
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"must be a number in (0, 10] or {AUTO_LR!r}, got {value!r}")
    if not math.isfinite(value) or not 0 < value <= 10:
        raise ValueError(f"must be in (0, 10] or {AUTO_LR!r}, got {value}")
    return float(value)


# one plain validator (not a union) so that errors keep the field's own path ("...optimizer.lr")
LearningRateOrAuto = Annotated[
    float | Literal["auto"],
    PlainValidator(_learning_rate_or_auto),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "exclusiveMinimum": 0, "maximum": 10},
                {"const": AUTO_LR},
            ]
        }
    ),
]


def is_zero(value: Any) -> bool:
    """Like unset, for options added later whose default is 0."""
    return value == 0


def unset(value: Any) -> bool:
    """Optional sections added after the first release are left out of the canonical JSON while
    unset, so recipes that do not use them keep their sha256 (runs and checkpoints match)."""
    return value is None


StageType = Literal[
    "spatial-structured",
    "winograd-direct",
    "native-winograd",
    "spatial-unstructured",
    "winograd-relu",
    "dense",
]
Method = Literal[
    "spatial-winograd",
    "native-winograd",
    "spatial-structured",
    "spatial-unstructured",
    "winograd-relu",
    "dense",
]


def raise_rules(rules: list[tuple[str, str]]) -> None:
    """Raise the cross-field rule violations as one pydantic error (expanded by RecipeError)."""
    if rules:
        summary = "; ".join(f"{loc}: {msg}" for loc, msg in rules)
        payload = [{"loc": loc, "msg": msg} for loc, msg in rules]
        raise PydanticCustomError(RULES_ERROR, "{summary}", {"summary": summary, "rules": payload})


def check_rules(fn: Callable[[Any], list[tuple[str, str]]]) -> Any:
    """An after-model-validator that raises whatever ``fn(model)`` reports."""

    def run(self: Any) -> Any:
        raise_rules(fn(self))
        return self

    return _model_validator(mode="after")(run)


class StrictModel(BaseModel):
    """Unknown keys are errors; no silent str -> number or float -> int coercion."""

    model_config = ConfigDict(extra="forbid", strict=True)
