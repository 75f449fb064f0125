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


def dumps(body: Any) -> str:
    """Compact JSON text of numbers, strings, lists, dicts and datetimes."""
    return json.dumps(body, separators=(",", ":"), default=_default)


def fast_json(body: dict[str, Any] | str) -> Response:
    """A JSON response of a dict (see ``dumps``) or of JSON text made elsewhere."""
    return Response(body if isinstance(body, str) else dumps(body), media_type="application/json")
