"""Screenshots of the main pages for the README, taken with the same chromium.

Runs only when asked: `WINOPRUNE_SCREENSHOTS=docs/screenshots pytest tests/web/test_screenshots.py`
(the worker is simulated as in test_browser.py: rows are written into the database).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.server.conftest import recipe
from tests.web.conftest import WebEnv, login, open_page
from tests.web.simulate import play_run

pytestmark = pytest.mark.browser
TARGET = os.environ.get("WINOPRUNE_SCREENSHOTS")


@pytest.mark.skipif(not TARGET, reason="set WINOPRUNE_SCREENSHOTS=<folder> to take screenshots")
def test_take_screenshots(
    web_env: WebEnv, live_server: str, browser: Any, page_errors: list[str]
) -> None:
    """Every main page renders without JS errors; each is saved as a PNG."""
    folder = Path(str(TARGET))
    folder.mkdir(parents=True, exist_ok=True)
    user, colleague = web_env.user("shot-ada"), web_env.user("shot-grace")
    project = web_env.project("digits-lab", {user: "owner", colleague: "editor"})
    api = web_env.api_client(user)
    runs = []
    for target, method in (
        (0.55, "spatial-winograd"),
        (0.7, "spatial-winograd"),
        (0.6, "native-winograd"),
    ):
        body = recipe(name=f"digits-{method}-{int(100 * target)}", method=method)
        body["stages"][1]["target"] = target
        if method == "native-winograd":
            for stage in body["stages"]:
                stage["type"] = "native-winograd"
        response = api.post(
            "/api/v1/runs", json={"project": project, "recipe": body, "tags": ["demo"]}
        )
        runs.append(response.json()["id"])
        play_run(web_env.app, runs[-1], epoch_delay_s=0)
    api.post("/api/v1/runs", json={"project": project, "recipe": recipe(name="digits-queued")})

    page = open_page(browser, page_errors, width=1280, height=860)
    page.goto(f"{live_server}/login")
    page.screenshot(path=folder / "login.png")
    login(page, live_server, user.username, f"/runs?project={project}")
    page.locator("#runs-table tbody tr").first.wait_for()
    page.screenshot(path=folder / "runs.png")
    page.goto(f"{live_server}/runs/new?project={project}")
    page.wait_for_selector("#run-form[data-ready='1']")
    page.screenshot(path=folder / "new-run.png", full_page=True)
    page.goto(f"{live_server}/runs/{runs[1]}")
    page.wait_for_selector("#chart-mults[data-ready='1']")
    page.wait_for_timeout(500)
    page.screenshot(path=folder / "run-detail.png", full_page=True)
    page.goto(f"{live_server}/compare?runs={','.join(map(str, runs))}")
    page.wait_for_selector("#main[data-updated]")
    page.screenshot(path=folder / "compare.png", full_page=True)
    page.goto(f"{live_server}/pareto?project={project}")
    page.wait_for_selector("#main[data-updated]")
    page.screenshot(path=folder / "pareto.png")
    page.goto(f"{live_server}/team?project={project}")
    page.locator("#members tbody tr").first.wait_for()
    page.screenshot(path=folder / "team.png")
    page.context.close()
    assert not page_errors, page_errors
    assert all((folder / f"{name}.png").stat().st_size > 0 for name in ("runs", "run-detail"))
