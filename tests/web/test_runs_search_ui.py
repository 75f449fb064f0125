"""The runs list's search box and tile column (headless chromium): "native" finds a
native-winograd run, the tile shows per row, and the filters live in the URL (a reload or a
shared link shows the same rows)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.server.conftest import recipe
from tests.web.conftest import WebEnv, login, open_page

SHOWN = "[...document.querySelectorAll('#runs-table tbody tr')].map(r => r.dataset.runId).join()"


def test_search_finds_by_substring_and_the_filters_stay_in_the_url(
    web_env: WebEnv, live_server: str, browser: Any, page_errors: list[str], shots: Path
) -> None:
    user = web_env.user("searcher")
    project = web_env.project("search-ui", {user: "editor"})
    api = web_env.api_client(user)
    paper = api.post("/api/v1/runs", json={"project": project, "recipe": recipe()}).json()["id"]
    stage = {"type": "native-winograd", "target": 0.5, "epochs": 1,
             "optimizer": {"name": "sgd", "lr": 0.01}}  # fmt: skip
    native = recipe(name="li-native", method="native-winograd", stages=[stage],
                    tile={"m": 2, "r": 3})  # fmt: skip
    response = api.post("/api/v1/runs", json={"project": project, "recipe": native})
    assert response.status_code == 201, response.text
    native_id = response.json()["id"]

    page = open_page(browser, page_errors)
    login(page, live_server, "searcher", f"/runs?project={project}")
    page.locator("#runs-table tbody tr").nth(1).wait_for()
    assert page.locator(f'tr[data-run-id="{native_id}"] .tile-cell').inner_text() == "F(2,3)"
    page.get_by_label("Search").fill("native")
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_function(f"() => {SHOWN} === '{native_id}'")
    assert "q=native" in page.url
    page.screenshot(path=shots / "16-runs-search.png", full_page=True)

    # the URL is the saved filter: a fresh page on it shows the same rows and the same form
    saved = page.url
    other = open_page(browser, page_errors)
    login(other, live_server, "searcher", f"/runs?project={project}")
    other.goto(saved)
    other.wait_for_function(f"() => {SHOWN} === '{native_id}'")
    assert other.get_by_label("Search").input_value() == "native"

    page.get_by_label("Search").fill("")
    page.get_by_label("Tile", exact=True).fill("F(2,3)")
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_function(f"() => {SHOWN} === '{native_id}'")
    page.get_by_role("button", name="Clear").click()
    page.wait_for_function(f"() => {SHOWN}.split(',').length === 2")
    assert str(paper) in page.evaluate(f"() => {SHOWN}")
    # the tile column sorts: descending first (F(4,3) before F(2,3)), then ascending
    header = page.locator("th[data-sort=tile]")
    header.locator("button").click()
    page.wait_for_function(f"() => {SHOWN} === '{paper},{native_id}'")
    assert header.get_attribute("aria-sort") == "descending" and "sort=tile" in page.url
    header.locator("button").click()
    page.wait_for_function(f"() => {SHOWN} === '{native_id},{paper}'")
    assert header.get_attribute("aria-sort") == "ascending"
    assert page_errors == []
