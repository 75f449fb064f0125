"""Issue 14, sessions and passwords: a password change ends sessions, strength rules (the admin
included), production secrets, throttling counted in the database, same-origin `next`."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from pydantic import SecretStr

from server.config import Settings, resolve_secret_key
from server.main import create_app
from server.users.service import bootstrap_admin
from tests.server.conftest import PASSWORD, Env

NEW_PASSWORD = "purple staple orbit 42"


def _login(client: Any, username: str, password: str) -> Any:
    return client.post("/api/v1/auth/login", data={"username": username, "password": password})


def _bearer(client: Any, token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_password_change_ends_sessions_and_can_revoke_tokens(env: Env) -> None:
    env.user("olivia")
    client = env.anonymous()
    old_jwt = _login(client, "olivia", PASSWORD).json()["access_token"]
    personal = client.post(
        "/api/v1/auth/tokens", json={"name": "ci"}, headers=_bearer(client, old_jwt)
    ).json()["token"]
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    changed = client.post("/api/v1/auth/password", json=body, headers=_bearer(client, old_jwt))
    assert changed.status_code == 204, changed.text
    assert client.get("/api/v1/auth/me", headers=_bearer(client, old_jwt)).status_code == 401
    # Without revoke_tokens the personal token keeps working; with it, it is revoked.
    assert client.get("/api/v1/auth/me", headers=_bearer(client, personal)).status_code == 200
    new_jwt = _login(client, "olivia", NEW_PASSWORD).json()["access_token"]
    body = {"current_password": NEW_PASSWORD, "new_password": PASSWORD, "revoke_tokens": True}
    again = client.post("/api/v1/auth/password", json=body, headers=_bearer(client, new_jwt))
    assert again.status_code == 204, again.text
    assert client.get("/api/v1/auth/me", headers=_bearer(client, personal)).status_code == 401


@pytest.mark.parametrize("weak", ["password", "12345678", "{u}-{u}", "{u}", "{u}2026"])
def test_weak_passwords_are_refused_everywhere(env: Env, weak: str) -> None:
    admin = env.client(env.user("root", is_admin=True))
    olivia = env.user("olivia")
    new = weak.format(u="mallory")
    created = admin.post("/api/v1/users", json={"username": "mallory", "password": new})
    assert created.status_code == 422 and "password" in created.text, created.text
    weak = weak.format(u="olivia")
    reset = admin.patch(f"/api/v1/users/{olivia.id}", json={"password": weak})
    assert reset.status_code == 422, reset.text
    own = env.client(olivia).post(
        "/api/v1/auth/password",
        json={"current_password": PASSWORD, "new_password": weak},
    )
    assert own.status_code == 422 and "new_password" in own.text, own.text
    assert _login(env.anonymous(), "olivia", PASSWORD).status_code == 200  # unchanged


def test_weak_admin_password_is_refused_at_bootstrap(env: Env) -> None:
    for weak in ("a", "admin", "password"):
        settings = env.settings.model_copy(update={"admin_password": SecretStr(weak)})
        with env.session() as session, pytest.raises(ValueError, match="admin_password"):
            bootstrap_admin(session, env.app.state.password_hasher, settings)


@pytest.mark.parametrize("secret", ["changeme" * 4, "a" * 38, "0123456789abcdef" * 3])
def test_production_requires_a_high_entropy_secret(tmp_path: Path, secret: str) -> None:
    settings = Settings(_env_file=None, env="production", data_dir=tmp_path, secret_key=secret)
    with pytest.raises(ValueError, match="entropy"):
        resolve_secret_key(settings)
    strong = secrets.token_urlsafe(32)
    good = Settings(_env_file=None, env="production", data_dir=tmp_path, secret_key=strong)
    assert resolve_secret_key(good) == strong


def test_failed_logins_are_counted_across_processes(env: Env) -> None:
    """Two apps on one database stand for two `serve --workers` processes."""
    env.user("olivia")
    other = create_app(env.settings)
    try:
        clients = [env.anonymous(), Env(app=other).anonymous()]
        limit = env.settings.login_max_failures
        for attempt in range(limit):
            response = _login(clients[attempt % 2], "olivia", "wrong")
            assert response.status_code == 401, response.text
        for client in clients:
            locked = _login(client, "olivia", PASSWORD)
            assert locked.status_code == 429 and int(locked.headers["Retry-After"]) >= 1
    finally:
        other.state.engine.dispose()


def test_password_change_guesses_are_throttled(env: Env) -> None:
    client = env.client(env.user("olivia"))
    limit = env.settings.password_max_failures
    body = {"current_password": "guess", "new_password": NEW_PASSWORD}
    for _ in range(limit):
        assert client.post("/api/v1/auth/password", json=body).status_code == 422
    locked = client.post(
        "/api/v1/auth/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    )
    assert locked.status_code == 429 and "Retry-After" in locked.headers


@pytest.mark.parametrize(
    "target",
    [
        "/%09/evil.example/x",
        "/\t/evil.example/x",
        "/\n/evil.example",
        "/\r\n/evil.example",
        "//evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "https://evil.example/",
        "/ /evil.example",
        "/\x0b/evil.example",
    ],
)
def test_login_next_accepts_only_same_origin_paths(env: Env, target: str) -> None:
    value = unquote(target)
    page = env.anonymous().get("/login", params={"next": value})
    assert 'data-next="/runs"' in page.text, page.text[:300]
    env.user("nina")
    client = env.anonymous()
    assert _login(client, "nina", PASSWORD).status_code == 200  # the cookie is kept
    moved = client.get("/login", params={"next": value}, follow_redirects=False)
    assert moved.status_code == 303 and moved.headers["location"] == "/runs"
    same = client.get("/login", params={"next": "/runs/new?project=1"}, follow_redirects=False)
    assert same.headers["location"] == "/runs/new?project=1"
