"""Static files: content-hash URLs cached for a year, gzip-compressed (plotly.js too), the
plain /static/ path revalidated, and a favicon."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import httpx

from server.pages.assets import STATIC_URL, asset_version
from server.pages.paths import PLOTLY_JS, PLOTLY_URL, STATIC_DIR
from tests.web.conftest import WebEnv


def test_pages_link_hashed_assets_served_compressed_with_long_cache(
    web_env: WebEnv, live_server: str
) -> None:
    login = httpx.get(f"{live_server}/login")
    css, module = re.search(r'href="(/static/[0-9a-f]{12}/css/app\.css)"', login.text), None
    assert css is not None and css.group(1).startswith(STATIC_URL)
    module = re.search(r'src="(/static/[0-9a-f]{12}/js/pages/login\.js)"', login.text)
    assert module is not None
    for path in (css.group(1), module.group(1), f"{STATIC_URL}/js/api.js"):
        raw = httpx.get(f"{live_server}{path}", headers={"Accept-Encoding": "gzip"})
        assert raw.status_code == 200, path
        assert raw.headers["content-encoding"] == "gzip"
        assert raw.headers["cache-control"] == "public, max-age=31536000, immutable"
        local = STATIC_DIR / path.removeprefix(f"{STATIC_URL}/")
        assert raw.content == local.read_bytes()  # httpx decodes gzip
    plain = httpx.get(f"{live_server}/static/css/app.css")
    assert plain.status_code == 200 and plain.headers["cache-control"] == "no-cache"


def test_plotly_is_sent_gzip_compressed_to_a_third(live_server: str) -> None:
    with httpx.stream(
        "GET", f"{live_server}{PLOTLY_URL}", headers={"Accept-Encoding": "gzip"}
    ) as response:
        wire = b"".join(response.iter_raw())
        assert response.headers["content-encoding"] == "gzip"
        assert "immutable" in response.headers["cache-control"]
    raw = PLOTLY_JS.read_bytes()
    assert gzip.decompress(wire) == raw
    assert len(wire) < len(raw) / 3, (len(wire), len(raw))
    identity = httpx.get(f"{live_server}{PLOTLY_URL}", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in identity.headers and identity.content == raw


def test_the_hash_follows_the_content(tmp_path: Path, live_server: str) -> None:
    (tmp_path / "a.js").write_text("one")
    first = asset_version(tmp_path)
    (tmp_path / "a.js").write_text("two")
    assert asset_version(tmp_path) != first
    icon = httpx.get(f"{live_server}/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in icon.content
