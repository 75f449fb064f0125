"""The transforms page (error table of every named point set, computed by the core) and the
tile accuracy on a run page: login required, outsiders' projects 404, the browser draws it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.server.conftest import recipe
from tests.web.conftest import WebEnv, login, open_page
from winoprune.winograd.error_model import tile_error
from winoprune.winograd.points import named_set, named_sets
from winoprune.winograd.transforms import cook_toom

TILE = {"m": 6, "r": 3, "points": "barabasz-6-3", "channel_sum": "pairwise"}


def _member(web_env: WebEnv, name: str) -> tuple[Any, int]:
    user = web_env.user(name)
    return user, web_env.project(f"{name}-project", {user: "editor"})


def test_transforms_page_needs_login_and_lists_every_named_set(web_env: WebEnv) -> None:
    anonymous = web_env.page_client(None).get("/transforms")
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    user, project = _member(web_env, "tf-page")
    client = web_env.page_client(user)
    page = client.get(f"/transforms?project={project}")
    assert page.status_code == 200
    for point_set in named_sets():
        assert f'<tr data-set="{point_set.name}">' in page.text
    assert 'aria-current="page">Transforms</a>' in page.text
    assert 'id="error-data"' in page.text and "benchmarks/winograd_error.py" in page.text
    # the runs page links to it, keeping the project
    assert f'href="/transforms?project={project}"' in client.get(f"/runs?project={project}").text


def test_transforms_page_hides_projects_of_others(web_env: WebEnv) -> None:
    user, _ = _member(web_env, "tf-in")
    _, theirs = _member(web_env, "tf-out")
    assert web_env.page_client(user).get(f"/transforms?project={theirs}").status_code == 404


def test_run_page_shows_the_error_of_the_runs_tile(web_env: WebEnv) -> None:
    user, project = _member(web_env, "tf-run")
    api = web_env.api_client(user)
    created = api.post("/api/v1/runs", json={"project": project, "recipe": recipe(tile=TILE)})
    assert created.status_code == 201, created.text
    plain = api.post("/api/v1/runs", json={"project": project, "recipe": recipe()})
    client = web_env.page_client(user)
    text = client.get(f"/runs/{created.json()['id']}").text
    assert 'data-testid="tile-error"' in text
    assert "F(6,3) with points {0, -1/2, 1/2, -1, 1, -2, 2, inf}" in text
    assert "<code>barabasz-6-3</code>" in text and "channel sum pairwise" in text
    # the shown float32 error is the core's measurement of that tile (500 tiles, seed 0)
    expected = tile_error(named_set("barabasz-6-3").transform(), 500, 0)
    assert f"{expected:.2e}" in text
    # a default-tile run shows F(4,3) and its own, smaller error
    default_text = client.get(f"/runs/{plain.json()['id']}").text
    assert "F(4,3) with points {0, 1, -1, 2, -2, inf}" in default_text
    assert f"{tile_error(cook_toom(4, 3), 500, 0):.2e}" in default_text


def test_the_browser_draws_the_error_chart_and_the_run_tile(
    web_env: WebEnv, live_server: str, browser: Any, page_errors: list[str], shots: Path
) -> None:
    user, project = _member(web_env, "tf-browser")
    run = web_env.api_client(user).post(
        "/api/v1/runs", json={"project": project, "recipe": recipe(tile=TILE)}
    )
    page = open_page(browser, page_errors)
    login(page, live_server, user.username, f"/transforms?project={project}")
    page.wait_for_selector('#chart-errors[data-ready="1"]')
    sources = page.evaluate("() => document.getElementById('chart-errors').data.map((t) => t.name)")
    assert {"lavin", "integer", "barabasz"} <= set(sources)
    page.screenshot(path=shots / "19-transforms.png", full_page=True)
    page.goto(f"{live_server}/runs/{run.json()['id']}")
    # the summary names the tile of a mapping-style recipe (not "[object Object]")
    page.wait_for_function(
        "() => document.getElementById('run-summary').textContent.includes('tile F(6,3)')"
    )
    section = page.get_by_test_id("tile-error")
    assert section.get_by_role("heading", name="Tile accuracy").is_visible()
    section.screenshot(path=shots / "19-run-tile-error.png")
    page.context.close()
    assert page_errors == []
