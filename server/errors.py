"""API errors: every 4xx body names the field; 5xx bodies never carry a stack trace."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger("winoprune.server")
DB_RETRY_AFTER_S = 5  # Retry-After of a 503 while the database is unreachable


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


class ErrorBody(BaseModel):
    """A 4xx/5xx answer: a message, and the field it is about when there is one."""

    detail: str
    field: str | None = None


def _documented(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


# The answers every API route may give besides its own (OpenAPI `responses`).
API_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _documented("The body is not valid JSON or form data"),
    401: _documented("Not authenticated (no, expired or revoked credentials)"),
    403: _documented("Authenticated, but not allowed (role, token scope, CSRF header)"),
    404: _documented("No such resource, or one in a project the caller is not a member of"),
    409: _documented("Conflicts with the current state (a duplicate name, a running run)"),
    429: _documented("Too many attempts; retry after the Retry-After header's seconds"),
    503: _documented("The database is unavailable; retry after the Retry-After header's seconds"),
}


def not_found(what: str) -> ApiError:
    """404 for a missing resource or one in a project the caller is not a member of."""
    return ApiError(404, f"{what} not found", field=None)


def field_errors(errors: list[dict[str, Any]], prefix: tuple[str, ...] = ()) -> ApiError:
    """422 in FastAPI's list style from [{"loc": "a.b.0", "msg": ...}] items."""
    detail = [
        {
            "loc": [*prefix, *_split_loc(item.get("loc", ""))],
            "msg": str(item.get("msg", "")),
            "type": str(item.get("type") or "value_error"),
        }
        for item in errors
    ]
    return ApiError(422, detail=detail)  # type: ignore[arg-type]


def _split_loc(loc: Any) -> list[str | int]:
    """'stages.1.target' -> ['stages', 1, 'target'] (also accepts a list or tuple)."""
    parts = loc if isinstance(loc, list | tuple) else [p for p in str(loc).split(".") if p]
    return [int(p) if isinstance(p, str) and p.isdigit() else p for p in parts]


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    field = getattr(exc, "field", None)
    detail: Any = exc.detail
    if exc.status_code == 422 and not isinstance(detail, list):
        # The documented 422 shape (HTTPValidationError): always a list of {loc, msg, type}.
        loc = _split_loc(field) if field else []
        msg = str(detail).removeprefix(f"{field}: ") if field else str(detail)  # loc names it
        detail = [{"loc": loc, "msg": msg, "type": "value_error"}]
    body: dict[str, Any] = {"detail": detail}
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


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """The database refused or dropped the connection (or the pool ran dry): 503, retry later."""
    logger.warning(
        "database unavailable on %s %s: %s", request.method, request.url.path, type(exc).__name__
    )
    return JSONResponse(
        {"detail": "the database is unavailable; retry shortly"},
        status_code=503,
        headers={"Retry-After": str(DB_RETRY_AFTER_S)},
    )


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"detail": "internal server error"}, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    """Register the JSON error handlers on the app."""
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    for error in (OperationalError, InterfaceError, PoolTimeout):
        app.add_exception_handler(error, _database_unavailable)
    app.add_exception_handler(Exception, _unexpected_error)
