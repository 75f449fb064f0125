"""Page and UI-helper routes through the TestClient: login redirects, project scoping (404 for
outsiders), plotly.js from the installed package, presets, importance factors, YAML parsing."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import plotly
import pytest
import yaml

from server.pages.paths import PLOTLY_URL, RECIPES_DIR
from tests.server.conftest import recipe
from tests.web.conftest import WebEnv
from winoprune.winograd.importance import importance_factors
from winoprune.winograd.transforms import standard_transform

_names = itertools.count()


@pytest.fixture
def team(web_env: WebEnv) -> dict[str, Any]:
    """A member of project "mine" (editor) with one run; an outsider's project with one run."""
    n = next(_names)
    member, outsider = web_env.user(f"pg-member-{n}"), web_env.user(f"pg-outsider-{n}")
    mine = web_env.project(f"pg-mine-{n}", {member: "editor"})
    theirs = web_env.project(f"pg-theirs-{n}", {outsider: "owner"})
    runs = {}
    for user, project in ((member, mine), (outsider, theirs)):
        response = web_env.api_client(user).post(
            "/api/v1/runs", json={"project": project, "recipe": recipe()}
        )
        assert response.status_code == 201, response.text
        runs[project] = response.json()["id"]
    return {"member": member, "mine": mine, "theirs": theirs, "runs": runs}


def test_pages_redirect_anonymous_users_to_login_and_back(web_env: WebEnv) -> None:
    client = web_env.page_client(None)
    response = client.get("/runs/new?project=3")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fruns%2Fnew%3Fproject%3D3"
    login = client.get("/login?next=/runs/new")
    assert login.status_code == 200
    assert 'data-next="/runs/new"' in login.text
    assert '<label for="username">' in login.text and '<label for="password">' in login.text
    assert "script-src 'self'" in login.headers["content-security-policy"]


def test_login_never_redirects_off_site(web_env: WebEnv, team: dict[str, Any]) -> None:
    client = web_env.page_client(team["member"])
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        response = client.get("/login", params={"next": target})
        assert response.headers["location"] == "/runs"
    assert client.get("/login?next=/team").headers["location"] == "/team"


def test_project_pages_default_to_the_first_project(web_env: WebEnv, team: dict[str, Any]) -> None:
    client = web_env.page_client(team["member"])
    response = client.get("/pareto?x=1")
    assert response.status_code == 303
    assert response.headers["location"] == f"/pareto?x=1&project={team['mine']}"
    page = client.get(f"/runs?project={team['mine']}")
    assert page.status_code == 200
    assert f'data-project="{team["mine"]}"' in page.text
    assert "pg-theirs" not in page.text  # the switcher lists only the caller's projects


@pytest.mark.parametrize("path", ["/runs", "/runs/new", "/pareto", "/team"])
def test_a_project_the_user_is_not_in_cannot_be_opened(
    web_env: WebEnv, team: dict[str, Any], path: str
) -> None:
    client = web_env.page_client(team["member"])
    response = client.get(f"{path}?project={team['theirs']}")
    assert response.status_code == 404
    assert 'data-testid="not-found"' in response.text
    assert response.text.count("pg-theirs") == 0


def test_runs_of_other_projects_cannot_be_opened_or_compared(
    web_env: WebEnv, team: dict[str, Any]
) -> None:
    client = web_env.page_client(team["member"])
    own, other = team["runs"][team["mine"]], team["runs"][team["theirs"]]
    assert client.get(f"/runs/{own}").status_code == 200
    assert f'data-run-id="{own}"' in client.get(f"/runs/{own}").text
    assert client.get(f"/runs/{other}").status_code == 404
    assert client.get(f"/compare?runs={own},{other}").status_code == 404
    assert client.get(f"/runs/{other + 1000}").status_code == 404
    assert client.get(f"/compare?runs={own},{own}").status_code == 200


def test_plotly_is_served_from_the_installed_package(web_env: WebEnv, team: dict[str, Any]) -> None:
    client = web_env.page_client(team["member"])
    page = client.get(f"/runs/{team['runs'][team['mine']]}")
    assert f'<script src="{PLOTLY_URL}" defer></script>' in page.text
    assert plotly.__version__ in PLOTLY_URL
    response = client.get(PLOTLY_URL)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    package_file = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    assert response.content == package_file.read_bytes()


def test_static_files_and_page_modules_are_served(web_env: WebEnv) -> None:
    client = web_env.page_client(None)
    for path in ("/static/css/app.css", "/static/js/api.js", "/static/js/pages/run_detail.js"):
        response = client.get(path)
        assert response.status_code == 200, path
    assert client.get("/static/../server/config.py").status_code == 404


def test_presets_are_the_repository_recipes(web_env: WebEnv, team: dict[str, Any]) -> None:
    assert web_env.page_client(None).get("/ui/api/recipes").status_code == 401
    presets = web_env.page_client(team["member"]).get("/ui/api/recipes").json()
    files = sorted(RECIPES_DIR.glob("*.yaml"))
    assert [p["id"] for p in presets] == [f.stem for f in files]
    for preset, path in zip(presets, files, strict=True):
        assert preset["recipe"] == yaml.safe_load(path.read_text())
        assert preset["yaml"] == path.read_text()


@pytest.mark.parametrize("tile", ["F(2,3)", "F(4,3)", "F(6,3)"])
def test_importance_factors_match_the_core_library(
    web_env: WebEnv, team: dict[str, Any], tile: str
) -> None:
    body = web_env.page_client(team["member"]).get("/ui/api/importance", params={"tile": tile})
    expected = importance_factors(standard_transform(tile)).numpy()
    assert body.status_code == 200
    assert body.json()["alpha"] == expected.shape[0]
    np.testing.assert_array_equal(np.array(body.json()["f_hat"]), expected)


def test_importance_rejects_other_tiles(web_env: WebEnv, team: dict[str, Any]) -> None:
    response = web_env.page_client(team["member"]).get("/ui/api/importance?tile=F(3,3)")
    assert response.status_code == 422
    assert response.json()["field"] == "tile"


def test_yaml_view_parsing_needs_the_csrf_header(web_env: WebEnv, team: dict[str, Any]) -> None:
    client = web_env.page_client(team["member"])
    text = "name: x\nstages:\n  - {type: dense, epochs: 1}\n"
    assert client.post("/ui/api/yaml", json={"text": text}).status_code == 403
    headers = {"X-Requested-With": "test"}
    parsed = client.post("/ui/api/yaml", json={"text": text}, headers=headers)
    assert parsed.json() == {"recipe": {"name": "x", "stages": [{"type": "dense", "epochs": 1}]}}
    bad = client.post("/ui/api/yaml", json={"text": "a: [1"}, headers=headers)
    assert bad.status_code == 422 and bad.json()["field"] == "text"
    not_mapping = client.post("/ui/api/yaml", json={"text": "- 1"}, headers=headers)
    assert not_mapping.status_code == 422
    unsafe = client.post(
        "/ui/api/yaml", json={"text": "!!python/object:os.system {}"}, headers=headers
    )
    assert unsafe.status_code == 422


def test_new_run_form_offers_every_tile_and_method(web_env: WebEnv, team: dict[str, Any]) -> None:
    text = web_env.page_client(team["member"]).get(f"/runs/new?project={team['mine']}").text
    for tile in ("F(2,3)", "F(4,3)", "F(6,3)"):
        assert f'<option value="{tile}">' in text
    for method in ("spatial-winograd", "native-winograd", "spatial-structured"):
        assert f'<option value="{method}">' in text
    assert '<label for="f-model-name">Model</label>' in text
    assert 'data-error-for="name"' in text
