"""The web UI: server-rendered pages, static files, plotly.js and small UI helper endpoints."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from server.pages.account import router as account_router
from server.pages.assets import install_assets
from server.pages.paths import RECIPES_DIR
from server.pages.router import router
from server.pages.sensitivity_pages import router as sensitivity_pages_router
from server.pages.transforms import router as transforms_router
from server.pages.ui_api import router as ui_api_router

__all__ = ["install"]


def install(app: FastAPI, recipes_dir: Path | None = None) -> None:
    """Add the HTML pages, `/static`, `/ui/plotly-<version>.min.js` and `/ui/api/*` to `app`.

    `recipes_dir` (default: the repository's `recipes/`) holds the preset `*.yaml` recipes.
    """
    app.state.recipes_dir = recipes_dir or RECIPES_DIR
    app.include_router(ui_api_router)
    app.include_router(router)
    app.include_router(transforms_router)
    app.include_router(account_router)
    app.include_router(sensitivity_pages_router)
    install_assets(app)  # /static/<content hash>/ (gzip, a year's cache), /static/, favicon
