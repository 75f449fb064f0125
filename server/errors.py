"""API errors: every 4xx body names the field; 5xx bodies never carry a stack trace."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger("winoprune.server")


class ApiError(HTTPException):
    """An HTTP error whose body is {"detail": message, "field": field}."""

    def __init__(
        self,
        status_code: int,
        detail: str,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status_code=status_code, detail=detail, headers=headers)
        self.field = field


def not_found(what: str) -> ApiError:
    """404 for a missing resource or one in a project the caller is not a member of."""
    return ApiError(404, f"{what} not found", field=None)


def field_errors(errors: list[dict[str, Any]], prefix: tuple[str, ...] = ()) -> ApiError:
    """422 in FastAPI's list style from [{"loc": "a.b.0", "msg": ...}] items."""
    detail = [
        {"loc": [*prefix, *_split_loc(item.get("loc", ""))], "msg": str(item.get("msg", ""))}
        for item in errors
    ]
    return ApiError(422, detail=detail)  # type: ignore[arg-type]


def _split_loc(loc: Any) -> list[str | int]:
    """'stages.1.target' -> ['stages', 1, 'target'] (also accepts a list or tuple)."""
    parts = loc if isinstance(loc, list | tuple) else [p for p in str(loc).split(".") if p]
    return [int(p) if isinstance(p, str) and p.isdigit() else p for p in parts]


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    body: dict[str, Any] = {"detail": exc.detail}
    field = getattr(exc, "field", None)
    if field:
        body["field"] = field
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Drop "input"/"ctx": they could echo a submitted password back.
    detail = [
        {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")}
        for err in exc.errors()
    ]
    return JSONResponse({"detail": detail}, status_code=422)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"detail": "internal server error"}, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    """Register the JSON error handlers on the app."""
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected_error)
