"""At 390 px (a phone) the New-run form with its stage table and the Team page fit the width:
nothing scrolls sideways."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.web.conftest import WebEnv, login, open_page

pytestmark = pytest.mark.browser


def overflow(page: Any) -> int:
    """How many CSS pixels the page is wider than the viewport."""
    return int(page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth"))


def test_new_run_and_team_fit_390_px(
    web_env: WebEnv, live_server: str, browser: Any, page_errors: list[str], shots: Path
) -> None:
    owner = web_env.user("nora-narrow")
    project = web_env.project("narrow-project", {owner: "owner"})
    token = web_env.api_client(owner).post(
        "/api/v1/auth/tokens",
        json={"name": "a rather long token name for a phone", "scopes": ["read", "write"]},
    )
    assert token.status_code == 201, token.text
    page = open_page(browser, page_errors, width=390, height=844)
    login(page, live_server, "nora-narrow", f"/runs/new?project={project}")
    page.wait_for_selector("#run-form[data-ready='1']")
    page.screenshot(path=shots / "16-new-run-390.png", full_page=True)
    assert overflow(page) <= 0
    page.goto(f"{live_server}/team?project={project}")
    page.wait_for_load_state("networkidle")
    page.screenshot(path=shots / "16-team-390.png", full_page=True)
    assert overflow(page) <= 0
    assert page_errors == []
