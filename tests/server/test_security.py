"""Every route: 401 without credentials; 404 (same as a missing id) for project outsiders."""

from __future__ import annotations

import tempfile
from typing import Any

import pytest
from safetensors.torch import save

from server.config import Settings
from server.main import create_app
from server.pages.ui_api import router as ui_api_router
from tests.server.conftest import Env
from tests.server.conftest import recipe as recipe_of
from winoprune.models import build_model

PUBLIC = {
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/signup"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
}
SCOPED_PARAMS = ("{project_id}", "{run_id}", "{artifact_id}", "{token_id}", "{scan_id}")
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("PATCH", "/api/v1/projects/{project_id}"): {"description": "x"},
    ("POST", "/api/v1/projects/{project_id}/members"): {"username": "vera", "role": "viewer"},
    ("PATCH", "/api/v1/projects/{project_id}/members/{user_id}"): {"role": "viewer"},
    ("PATCH", "/api/v1/runs/{run_id}"): {"notes": "x"},
    ("POST", "/api/v1/runs/{run_id}/resume"): {"stage": 0},
    ("POST", "/api/v1/runs/{run_id}/clone"): {"patch": {}},
    ("POST", "/ui/api/yaml"): {"text": "name: x"},
    ("POST", "/api/v1/sensitivity/{scan_id}/allocate"): {"target": 0.5},
    ("POST", "/api/v1/tracking/runs/{run_id}/finish"): {"status": "failed"},
    ("POST", "/api/v1/tracking/runs/{run_id}/batches"): {"metrics": []},
    ("POST", "/api/v1/runs/{run_id}/speed"): {
        "weights_sha256": "0" * 64,
        "batch": 1,
        "threads": 1,
        "machine": "m",
        "conv2d_ms": 2.0,
        "export_ms": 1.0,
        "speedup": 2.0,
        "measured_at": "2026-12-01T00:00:00Z",
    },
}


def _route_table() -> list[tuple[str, str]]:
    settings = Settings(
        _env_file=None,
        database_url="sqlite://",
        secret_key="k" * 40,
        data_dir=tempfile.mkdtemp(prefix="wp-routes-"),
    )
    paths = create_app(settings).openapi()["paths"]
    routes = {(method.upper(), path) for path, ops in paths.items() for method in ops}
    # the UI's JSON helpers are left out of the OpenAPI but are routes all the same
    routes |= {
        (m, getattr(r, "path", "")) for r in ui_api_router.routes for m in getattr(r, "methods", ())
    }
    return sorted(routes)


ROUTES = _route_table()
PRIVATE = [r for r in ROUTES if r not in PUBLIC]
SCOPED = [r for r in PRIVATE if any(p in r[1] for p in SCOPED_PARAMS)]


def _call(client: Any, method: str, path: str, ids: dict[str, int]) -> Any:
    url = path.format(**ids)
    kwargs: dict[str, Any] = {}
    if (method, path) in BODIES:
        kwargs["json"] = BODIES[(method, path)]
    if path.endswith("/artifacts") and method == "POST":
        weights = save(
            {k: v.contiguous() for k, v in build_model("digits-cnn").state_dict().items()}
        )
        kwargs = {"files": {"file": ("w.safetensors", weights)}, "data": {"model": "digits-cnn"}}
    if path.endswith("/checkpoints") and method == "POST":
        kwargs = {"files": {"file": ("c.safetensors", b"{}")}, "data": {"stage": 0, "epoch": 0}}
    if path.endswith("/events"):
        kwargs["params"] = {"max_events": 1, "after": 0}
    return client.request(method, url, **kwargs)


@pytest.fixture
def world(env: Env, team: dict[str, Any]) -> dict[str, Any]:
    owner = team["owner"]
    run = env.submit(owner, team["alpha"])
    weights = save({k: v.contiguous() for k, v in build_model("digits-cnn").state_dict().items()})
    artifact = owner.post(
        f"/api/v1/projects/{team['alpha']}/artifacts",
        files={"file": ("w.safetensors", weights)},
        data={"model": "digits-cnn"},
    )
    token = owner.post("/api/v1/auth/tokens", json={"name": "t"}).json()
    scan = owner.post("/api/v1/sensitivity", json={
        "project": team["alpha"], "source": "artifact", "artifact_id": artifact.json()["id"],
        "recipe": recipe_of(), "method": "native-winograd"})  # fmt: skip
    ids = {
        "scan_id": scan.json()["id"],
        "project_id": team["alpha"],
        "run_id": run["id"],
        "artifact_id": artifact.json()["id"],
        "token_id": token["id"],
        "user_id": team["users"]["viewer"].id,
    }
    return {"ids": ids, **team}


def test_route_table_is_complete() -> None:
    assert len(SCOPED) >= 25 and len(PRIVATE) > len(SCOPED)
    assert {r for r in PRIVATE if r[1].startswith("/ui/api/")} == {
        ("GET", "/ui/api/recipes"),
        ("GET", "/ui/api/importance"),
        ("POST", "/ui/api/yaml"),
    }


@pytest.mark.parametrize(("method", "path"), PRIVATE, ids=[f"{m} {p}" for m, p in PRIVATE])
def test_no_credentials_is_401(env: Env, method: str, path: str) -> None:
    ids = {"project_id": 1, "run_id": 1, "artifact_id": 1, "token_id": 1, "user_id": 1}
    ids["scan_id"] = 1
    response = _call(env.anonymous(), method, path, ids)
    assert response.status_code == 401, response.text
    assert "Traceback" not in response.text


@pytest.mark.parametrize(("method", "path"), SCOPED, ids=[f"{m} {p}" for m, p in SCOPED])
def test_outsiders_get_404_like_a_missing_id(
    env: Env, world: dict[str, Any], method: str, path: str
) -> None:
    outsider = world["outsider"]
    response = _call(outsider, method, path, world["ids"])
    missing = _call(outsider, method, path, {k: 987654 for k in world["ids"]})
    assert response.status_code == 404, response.text
    assert response.json() == missing.json()  # nothing reveals that the resource exists
    owner = world["owner"]
    run = owner.get(f"/api/v1/runs/{world['ids']['run_id']}").json()
    assert run["status"] == "queued" and run["notes"] == ""  # and nothing changed
    assert owner.get(f"/api/v1/artifacts/{world['ids']['artifact_id']}").status_code == 200
    assert len(owner.get(f"/api/v1/projects/{world['ids']['project_id']}/members").json()) == 3


def test_outsiders_cannot_submit_or_list_into_foreign_projects(world: dict[str, Any]) -> None:
    from tests.server.conftest import recipe

    outsider, alpha = world["outsider"], world["ids"]["project_id"]
    assert (
        outsider.post("/api/v1/runs", json={"project": alpha, "recipe": recipe()}).status_code
        == 404
    )
    assert outsider.get("/api/v1/runs", params={"project": alpha}).status_code == 404
    tracked = {"project": alpha, "description": "d", "name": "n"}
    assert outsider.post("/api/v1/tracking/runs", json=tracked).status_code == 404
    assert outsider.get("/api/v1/runs").json()["items"] == []


def test_unexpected_errors_are_500_without_a_stack_trace(env: Env, team: dict[str, Any]) -> None:
    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("secret internals")

    saved = env.app.state.password_hasher
    env.app.state.password_hasher = type("Broken", (), {"verify": broken, "hash": broken})()
    try:
        response = env.anonymous().post(
            "/api/v1/auth/login", data={"username": "olivia", "password": "x"}
        )
    finally:
        env.app.state.password_hasher = saved
    assert response.status_code == 500
    assert response.json() == {"detail": "internal server error"}
