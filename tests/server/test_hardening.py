"""Issue 14's audit findings as plain tests: bounded YAML, 4xx (never 500) on hostile input,
and the documented 422 shape. Each runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from tests.server.conftest import PASSWORD, Env, recipe

BIG_ID = 2**31


def _laughs(levels: int = 7, fan: int = 10) -> str:
    """A 'billion laughs' YAML document: each level repeats the previous anchor `fan` times."""
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, levels + 1):
        refs = ", ".join(f"*a{level - 1}" for _ in range(fan))
        lines.append(f"a{level}: &a{level} [{refs}]")
    return "\n".join(lines) + "\n"


def _deep_yaml(depth: int) -> str:
    return "name: x\nmodel: " + "[" * depth + "]" * depth + "\n"


def _assert_422_list(response: Any, *words: str) -> list[dict[str, Any]]:
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, list) and detail, detail
    for item in detail:
        assert {"loc", "msg", "type"} <= set(item), item
    text = " ".join(item["msg"] for item in detail)
    for word in words:
        assert word in text, text
    return detail  # type: ignore[no-any-return]


def test_yaml_view_refuses_alias_expansion(team: dict[str, Any]) -> None:
    client = team["editor"]
    response = client.post("/ui/api/yaml", json={"text": _laughs()})
    _assert_422_list(response, "aliases")
    assert len(response.content) < 2_000
    small = "opt: &o {name: sgd, lr: 0.1}\npretrain: {optimizer: *o}\n"
    ok = client.post("/ui/api/yaml", json={"text": small})
    assert ok.status_code == 200 and ok.json()["recipe"]["pretrain"]["optimizer"]["lr"] == 0.1


def test_recipe_text_refuses_alias_expansion_depth_and_huge_integers(
    env: Env, team: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    client = team["editor"]
    huge = "9" * 5000
    bodies = {
        "aliases": _laughs(),
        "nested more than": _deep_yaml(1000),
        "digits": f"name: x\nseed: {huge}\n",
    }
    caplog.set_level(logging.ERROR)
    for rule, text in bodies.items():
        response = client.post("/api/v1/runs", json={"project": team["alpha"], "recipe": text})
        detail = _assert_422_list(response, rule)
        assert detail[0]["loc"][:2] == ["body", "recipe"]
    deep_view = client.post("/ui/api/yaml", json={"text": _deep_yaml(1000)})
    _assert_422_list(deep_view, "nested more than")
    # An integer of 5,000 digits inside a JSON body, and as JSON recipe text.
    raw = json.dumps({"project": team["alpha"], "recipe": {"name": "x", "seed": 0}}).replace(
        '"seed": 0', f'"seed": {huge}'
    )
    as_body = client.post("/api/v1/runs", content=raw, headers={"Content-Type": "application/json"})
    assert as_body.status_code in (400, 422), as_body.text
    as_text = client.post(
        "/api/v1/runs", json={"project": team["alpha"], "recipe": '{"seed": ' + huge + "}"}
    )
    _assert_422_list(as_text, "digits")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_deeply_nested_json_bodies_are_4xx_without_tracebacks(
    team: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    deep = "[" * 5000 + "]" * 5000
    raw = json.dumps({"project": team["alpha"], "recipe": {"name": "x", "model": 0}}).replace(
        '"model": 0', f'"model": {deep}'
    )
    response = team["editor"].post(
        "/api/v1/runs", content=raw, headers={"Content-Type": "application/json"}
    )
    assert 400 <= response.status_code < 500, response.text
    nested: Any = []
    for _ in range(200):
        nested = [nested]
    response = team["editor"].post(
        "/api/v1/runs", json={"project": team["alpha"], "recipe": recipe(model=nested)}
    )
    _assert_422_list(response, "nested more than")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_ids_beyond_the_database_integer_are_4xx(env: Env, team: dict[str, Any]) -> None:
    client = team["owner"]
    for method, url in [
        ("GET", f"/api/v1/runs/{BIG_ID}"),
        ("POST", f"/api/v1/runs/{BIG_ID}/cancel"),
        ("GET", f"/api/v1/projects/{BIG_ID}"),
        ("GET", f"/api/v1/artifacts/{BIG_ID}"),
        ("GET", f"/api/v1/runs?project={BIG_ID}"),
        ("GET", f"/api/v1/runs/{2**70}"),
        ("DELETE", f"/api/v1/auth/tokens/{BIG_ID}"),
        ("GET", f"/api/v1/projects/{team['alpha']}/artifacts?kind=export"),
    ]:
        response = client.request(method, url)
        assert response.status_code < 500, (method, url, response.text)
    assert client.get(f"/api/v1/projects/{team['alpha']}/artifacts").status_code == 200
    for body in (
        {"project": BIG_ID, "recipe": recipe()},
        {"project": team["alpha"], "recipe": recipe(seed=BIG_ID * 2**33)},
    ):
        response = client.post("/api/v1/runs", json=body)
        assert 400 <= response.status_code < 500, response.text
    run = env.submit(client, team["alpha"])
    resume = client.post(f"/api/v1/runs/{run['id']}/resume", json={"stage": BIG_ID})
    assert 400 <= resume.status_code < 500, resume.text


def test_nul_bytes_are_4xx(env: Env, team: dict[str, Any]) -> None:
    client = team["owner"]
    for field in ("method", "model", "dataset", "owner", "tag"):
        response = client.get("/api/v1/runs", params={field: "a\x00b"})
        assert response.status_code == 422, (field, response.text)
    login = env.anonymous().post(
        "/api/v1/auth/login", data={"username": "olivia\x00", "password": PASSWORD}
    )
    assert login.status_code in (401, 422), login.text
    described = client.patch(f"/api/v1/projects/{team['alpha']}", json={"description": "a\x00"})
    _assert_422_list(described, "NUL")
    created = client.post("/api/v1/projects", json={"name": "p\x00", "description": "x"})
    assert created.status_code == 422, created.text
    notes = client.post(
        "/api/v1/runs", json={"project": team["alpha"], "recipe": recipe(), "notes": "\x00"}
    )
    assert notes.status_code == 422, notes.text
    in_recipe = client.post(
        "/api/v1/runs", json={"project": team["alpha"], "recipe": recipe(description="\x00")}
    )
    assert in_recipe.status_code < 500, in_recipe.text  # JSON text stores an escaped NUL


def test_every_422_body_is_the_documented_list(env: Env, team: dict[str, Any]) -> None:
    client = team["owner"]
    # ApiError 422s (a plain message in code) are served in the list shape, with the field.
    bad_cursor = client.get("/api/v1/runs", params={"cursor": "not-a-cursor"})
    detail = _assert_422_list(bad_cursor)
    assert bad_cursor.json()["field"] == "cursor" and detail[0]["loc"] == ["cursor"]
    # Recipe errors carry a type.
    bad = client.post("/api/v1/runs", json={"project": team["alpha"], "recipe": recipe(stages="x")})
    assert all(item["type"] for item in _assert_422_list(bad))
    assert json.loads(bad.text)["detail"][0]["loc"][:2] == ["body", "recipe"]


def test_database_down_is_503_with_retry_after(tmp_path: Any) -> None:
    from fastapi.testclient import TestClient

    from server.auth.service import create_access_token
    from server.config import Settings
    from server.db.models import User
    from server.main import create_app

    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url="postgresql+psycopg://postgres@127.0.0.1:9/nowhere?connect_timeout=2",
        data_dir=tmp_path,
        secret_key="s" * 48,
    )
    app = create_app(settings)
    token, _ = create_access_token(settings, User(id=1, username="x", session_generation=0))
    client = TestClient(app, raise_server_exceptions=False)
    response = client.get("/api/v1/runs", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 503, response.text
    assert int(response.headers["Retry-After"]) > 0
    assert "database" in response.json()["detail"]
    app.state.engine.dispose()


def test_broker_down_says_not_dispatched_and_resends_promptly(
    env: Env, team: dict[str, Any]
) -> None:
    import time

    sent: list[int] = []
    refusals = {"left": 2}

    def flaky_broker(run_id: int) -> None:
        if refusals["left"] > 0:
            refusals["left"] -= 1
            raise ConnectionError("broker down")
        sent.append(run_id)

    env.app.state.enqueue_run = flaky_broker
    response = team["editor"].post(
        "/api/v1/runs", json={"project": team["alpha"], "recipe": recipe()}
    )
    assert response.status_code == 201 and response.json()["dispatched"] is False
    assert response.json()["status"] == "queued"
    deadline = time.monotonic() + 10
    while not sent and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sent == [response.json()["id"]]  # well before the sweeper's 120 s
    ok = team["editor"].post("/api/v1/runs", json={"project": team["alpha"], "recipe": recipe()})
    assert ok.json()["dispatched"] is True and sent[-1] == ok.json()["id"]
