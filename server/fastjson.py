"""JSON responses for hot read paths: trusted rows dumped as they are, without re-validation."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from fastapi import Response


def _default(value: Any) -> str:
    if isinstance(value, datetime):
        # the same text as pydantic's (UTC written as "Z"), so both paths agree
        return value.isoformat().replace("+00:00", "Z")
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def fast_json(body: dict[str, Any]) -> Response:
    """A JSON response of numbers, strings, lists, dicts and datetimes."""
    text = json.dumps(body, separators=(",", ":"), default=_default)
    return Response(text, media_type="application/json")
