"""Web UI fixtures: a migrated SQLite app with the pages installed, a live uvicorn server,
Debian's chromium driven by Playwright, and helpers to make users, projects and runs."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from server.auth.service import create_access_token
from server.config import Settings
from server.db.migrate import upgrade_to_head
from server.db.models import User
from server.main import create_app
from server.serving import free_port
from tests.conftest import service_missing
from tests.server.conftest import PASSWORD, Env

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class WebEnv(Env):
    """The server tests' Env (users, projects, API clients) plus browser-page clients."""

    def api_client(self, user: User) -> TestClient:
        """A TestClient authenticated by bearer JWT (for API calls in test set-up)."""
        return self.client(user)

    def page_client(self, user: User | None) -> TestClient:
        """A TestClient with the browser's session cookie (no redirects followed)."""
        client = TestClient(self.app, follow_redirects=False)
        if user is not None:
            token, _ = create_access_token(self.app.state.settings, user)
            client.cookies.set(self.app.state.settings.cookie_name, token)
        return client


def build_app(data_dir: Path) -> FastAPI:
    """create_app (which installs the UI) on a fresh migrated SQLite file."""
    url = f"sqlite:///{data_dir / 'web.sqlite'}"
    upgrade_to_head(url)
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=url,
        data_dir=data_dir,
        secret_key="w" * 48,
        argon2_time_cost=1,
        argon2_memory_kib=8,
        argon2_parallelism=1,
        events_poll_s=0.2,
        login_max_failures=50,
    )
    return create_app(settings)


@pytest.fixture(scope="session")
def web_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebEnv]:
    """One app and database for the web tests (tests use their own user and project names)."""
    app = build_app(tmp_path_factory.mktemp("web"))
    yield WebEnv(app)
    app.state.engine.dispose()


@pytest.fixture(scope="session")
def live_server(web_env: WebEnv) -> Iterator[str]:
    """uvicorn serving the app on 127.0.0.1:<free port> in a thread; yields the base URL."""
    import uvicorn

    port = free_port()
    config = uvicorn.Config(
        web_env.app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=5)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's chromium under Playwright (never `playwright install`)."""
    if not CHROMIUM.exists():
        service_missing("chromium", f"{CHROMIUM} not found; apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        try:
            instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        except Exception as exc:
            service_missing("chromium", f"launch failed: {type(exc).__name__}: {exc}"[:300])
        yield instance
        instance.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where a browser test saves the screenshots a person looks at: $WINOPRUNE_SCREENSHOTS,
    else the test's own temporary folder."""
    folder = Path(os.environ.get("WINOPRUNE_SCREENSHOTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def page_errors() -> list[str]:
    """Console errors and uncaught exceptions collected by `open_page`."""
    return []


def open_page(browser: Any, errors: list[str], width: int = 1440, height: int = 1000) -> Any:
    """A fresh browser context (own cookies) and page that records JS errors into `errors`."""
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    page.on("console", lambda msg: _console_error(msg, errors))
    return page


def _console_error(message: Any, errors: list[str]) -> None:
    # HTTP errors the UI handles (a wrong password, a 422 shown at its field) are not JS errors
    if message.type == "error" and "Failed to load resource" not in message.text:
        errors.append(f"console: {message.text}")


def login(page: Any, base_url: str, username: str, path: str = "/runs") -> None:
    """Log in through the login form and wait for the page it returns to."""
    page.goto(f"{base_url}/login?next={path}")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/login" not in url)
