"""UI assets: static files under a content-hash URL (``/static/<hash>/...``, cached for a year
and gzip-compressed), plotly.js compressed once in memory, and the favicon.

The hash covers every file under ``web/static``, so any change gives new URLs; ES-module
imports are relative, so a page's modules all load under the same hashed prefix. ``/static/``
without the hash still works (revalidated on every use) for bookmarked links."""

from __future__ import annotations

import gzip
import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import FileResponse
from starlette.middleware.gzip import GZipMiddleware
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from server.pages.paths import STATIC_DIR

YEAR_S = 365 * 24 * 3600
IMMUTABLE = f"public, max-age={YEAR_S}, immutable"
FAVICON = STATIC_DIR / "favicon.svg"


def asset_version(root: Path = STATIC_DIR) -> str:
    """A short sha256 over the relative paths and bytes of every file under ``root``."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


ASSET_VERSION = asset_version()
STATIC_URL = f"/static/{ASSET_VERSION}"


class ImmutableStatic(StaticFiles):
    """Static files whose URL carries the content hash: cacheable for a year."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = IMMUTABLE
        return response


class RevalidatedStatic(StaticFiles):
    """The same files without the hash (old links): the browser revalidates every use."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers["Cache-Control"] = "no-cache"
        return response


@lru_cache(maxsize=4)
def _gzipped(path: Path, mtime_ns: int) -> bytes:
    return gzip.compress(path.read_bytes(), compresslevel=9, mtime=0)


def compressed_file(request: Request, path: Path, media_type: str) -> Response:
    """``path`` gzip-compressed (once, kept in memory) when the client accepts it."""
    headers = {"Cache-Control": IMMUTABLE, "Vary": "Accept-Encoding"}
    if "gzip" not in request.headers.get("accept-encoding", "").lower():
        return FileResponse(path, media_type=media_type, headers=headers)
    body = _gzipped(path, path.stat().st_mtime_ns)
    headers["Content-Encoding"] = "gzip"
    return Response(body, media_type=media_type, headers=headers)


def install_assets(app: FastAPI) -> None:
    """Mount the hashed and the plain static folders and the favicon route."""
    hashed = GZipMiddleware(ImmutableStatic(directory=STATIC_DIR), minimum_size=512)
    app.mount(STATIC_URL, hashed, name="static-hashed")
    plain = GZipMiddleware(RevalidatedStatic(directory=STATIC_DIR), minimum_size=512)
    app.mount("/static", plain, name="static")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        return FileResponse(
            FAVICON, media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"}
        )
