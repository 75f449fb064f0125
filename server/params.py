"""Request parameter types that the database can store: ids and counters within the column's
integer range, text without NUL bytes (PostgreSQL refuses them). Out-of-range or NUL input is
a 422 naming the parameter, never a driver error (500)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import AfterValidator, Field

INT32_MAX = 2**31 - 1  # INTEGER columns (ids of users, projects, runs, artifacts, tokens)
INT32_MIN = -(2**31)
INT64_MAX = 2**63 - 1  # BIGINT columns (events, metrics and layer rows)


def reject_nul(value: Any) -> Any:
    """Refuse strings (also inside lists) that hold a NUL byte."""
    items = value if isinstance(value, list) else [value]
    if any(isinstance(item, str) and "\x00" in item for item in items):
        raise ValueError("must not contain NUL (0x00) characters")
    return value


NoNul = AfterValidator(reject_nul)

IdPath = Annotated[int, Path(ge=0, le=INT32_MAX)]
IdQuery = Annotated[int | None, Query(ge=0, le=INT32_MAX)]
IndexQuery = Annotated[int | None, Query(ge=INT32_MIN, le=INT32_MAX)]  # stage, epoch
CursorQuery = Annotated[int, Query(ge=0, le=INT64_MAX)]  # a BIGINT row id to start after
IdField = Annotated[int, Field(ge=0, le=INT32_MAX)]
IndexField = Annotated[int, Field(ge=INT32_MIN, le=INT32_MAX)]
