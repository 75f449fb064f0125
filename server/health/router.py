"""Liveness (/healthz) and readiness (/readyz: database and broker reachable)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from server.health.checks import check_database

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "The database or the broker is down"}})
async def readyz(request: Request) -> JSONResponse:
    """Ready when the database and the broker answer (503 naming the failing one otherwise)."""
    checks: dict[str, Any] = {
        "database": lambda: check_database(request.app.state.engine),
        "broker": request.app.state.broker_check,
    }
    results: dict[str, str] = {}
    for name, check in checks.items():
        try:
            await run_in_threadpool(check)
            results[name] = "ok"
        except Exception as exc:
            results[name] = f"error: {type(exc).__name__}"
    ready = all(value == "ok" for value in results.values())
    body = {"status": "ok" if ready else "unavailable", "checks": results}
    return JSONResponse(body, status_code=200 if ready else 503)
