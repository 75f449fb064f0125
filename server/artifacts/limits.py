"""Refuse oversized uploads from their Content-Length, with a JSON body naming the rule."""

from __future__ import annotations

import json
import re

from starlette.types import ASGIApp, Receive, Scope, Send

UPLOAD_PATH = re.compile(r"^/api/v1/projects/[^/]+/artifacts/?$")


class UploadLimitMiddleware:
    """413 before reading the body when a declared upload exceeds the limit.

    Chunked bodies without Content-Length are stopped by the route's `max_body_size`.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, limit_mb: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.limit_mb = limit_mb

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and UPLOAD_PATH.match(scope["path"])
        ):
            length = dict(scope["headers"]).get(b"content-length", b"")
            if length.isdigit() and int(length) > self.max_bytes:
                await self._refuse(send)
                return
        await self.app(scope, receive, send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            {
                "detail": f"file: larger than the upload limit of {self.limit_mb:g} MB "
                "(WINOPRUNE_MAX_UPLOAD_MB)",
                "field": "file",
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
