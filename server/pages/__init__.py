"""The web UI: server-rendered pages, static files, plotly.js and small UI helper endpoints."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from server.pages.paths import RECIPES_DIR, STATIC_DIR
from server.pages.router import router
from server.pages.ui_api import router as ui_api_router

__all__ = ["install"]


def install(app: FastAPI, recipes_dir: Path | None = None) -> None:
    """Add the HTML pages, `/static`, `/ui/plotly-<version>.min.js` and `/ui/api/*` to `app`.

    `recipes_dir` (default: the repository's `recipes/`) holds the preset `*.yaml` recipes.
    """
    app.state.recipes_dir = recipes_dir or RECIPES_DIR
    app.include_router(ui_api_router)
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
