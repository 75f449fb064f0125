"""Login, cookies + CSRF, rate limiting, logout, personal tokens, users, secrets."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from server.config import Settings, resolve_secret_key
from server.db.base import utcnow
from server.db.models import ApiToken, User
from server.users.service import bootstrap_admin
from tests.server.conftest import PASSWORD, Env


def _login(env: Env, username: str, password: str = PASSWORD):
    client = env.anonymous()
    return client, client.post(
        "/api/v1/auth/login", data={"username": username, "password": password}
    )


def test_login_returns_jwt_and_sets_httponly_lax_cookie(env: Env) -> None:
    env.user("ann")
    client, response = _login(env, "ann")
    assert response.status_code == 200
    assert response.json()["token_type"] == "bearer"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    assert client.get("/api/v1/auth/me").json()["username"] == "ann"
    bearer = env.anonymous().get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {response.json()['access_token']}"}
    )
    assert bearer.json()["username"] == "ann"


def test_wrong_password_is_401_naming_the_field(env: Env) -> None:
    env.user("ann")
    _, response = _login(env, "ann", "wrong password")
    assert response.status_code == 401
    assert response.json()["field"] == "password"
    _, unknown = _login(env, "nobody", "wrong password")
    assert unknown.status_code == 401 and unknown.json() == response.json()


def test_login_is_rate_limited_per_user_and_client(env: Env) -> None:
    env.user("ann")
    env.user("bob")
    for _ in range(env.settings.login_max_failures):
        assert _login(env, "ann", "nope-nope")[1].status_code == 401
    _, blocked = _login(env, "ann")  # even the right password waits
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) >= 1
    assert _login(env, "bob")[1].status_code == 200  # other users are not affected


def test_cookie_requests_need_the_csrf_header_but_bearer_requests_do_not(env: Env) -> None:
    env.user("ann")
    client, _ = _login(env, "ann")
    body = {"name": "csrf-test"}
    refused = client.post("/api/v1/projects", json=body)
    assert refused.status_code == 403
    assert refused.json()["field"] == "X-Requested-With"
    allowed = client.post("/api/v1/projects", json=body, headers={"X-Requested-With": "fetch"})
    assert allowed.status_code == 201
    with env.session() as session:
        user = session.scalar(select(User).where(User.username == "ann"))
    bearer = env.client(user).post("/api/v1/projects", json={"name": "csrf-test-2"})
    assert bearer.status_code == 201


def test_logout_invalidates_issued_jwts(env: Env) -> None:
    env.user("ann")
    client, response = _login(env, "ann")
    token = response.json()["access_token"]
    out = client.post("/api/v1/auth/logout", headers={"X-Requested-With": "fetch"})
    assert out.status_code == 204
    again = env.anonymous().get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert again.status_code == 401


def test_personal_tokens_are_shown_once_stored_hashed_and_revocable(env: Env) -> None:
    client = env.client(env.user("ann"))
    created = client.post("/api/v1/auth/tokens", json={"name": "cli"})
    assert created.status_code == 201
    secret = created.json()["token"]
    assert secret.startswith("wp_")
    listed = client.get("/api/v1/auth/tokens").json()
    assert [t["name"] for t in listed] == ["cli"] and "token" not in listed[0]
    with env.session() as session:
        row = session.scalar(select(ApiToken))
        assert row is not None and row.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    as_token = env.anonymous()
    as_token.headers["Authorization"] = f"Bearer {secret}"
    assert as_token.get("/api/v1/auth/me").json()["username"] == "ann"
    assert as_token.post("/api/v1/auth/tokens", json={"name": "x"}).status_code == 403
    assert client.delete(f"/api/v1/auth/tokens/{created.json()['id']}").status_code == 204
    assert as_token.get("/api/v1/auth/me").status_code == 401


def test_read_only_and_expired_tokens(env: Env) -> None:
    client = env.client(env.user("ann"))
    secret = client.post("/api/v1/auth/tokens", json={"name": "ro", "scopes": ["read"]}).json()[
        "token"
    ]
    headers = {"Authorization": f"Bearer {secret}"}
    anon = env.anonymous()
    assert anon.get("/api/v1/projects", headers=headers).status_code == 200
    refused = anon.post("/api/v1/projects", json={"name": "p"}, headers=headers)
    assert refused.status_code == 403 and refused.json()["field"] == "scopes"
    with env.session() as session:
        row = session.scalar(select(ApiToken))
        assert row is not None
        row.expires_at = utcnow() - timedelta(seconds=1)
        session.commit()
    assert anon.get("/api/v1/projects", headers=headers).status_code == 401


def test_malformed_credentials_are_401(env: Env) -> None:
    anon = env.anonymous()
    for header in ("Basic abc", "Bearer ", "Bearer not-a-jwt", "Bearer wp_unknown"):
        response = anon.get("/api/v1/auth/me", headers={"Authorization": header})
        assert response.status_code == 401, header
        assert response.headers["WWW-Authenticate"] == "Bearer"


def test_only_admins_manage_users_and_signup_is_off_by_default(env: Env) -> None:
    admin = env.client(env.user("root", is_admin=True))
    plain = env.client(env.user("ann"))
    body = {"username": "new-user", "password": "long enough password"}
    assert plain.post("/api/v1/users", json=body).status_code == 403
    assert admin.post("/api/v1/users", json=body).status_code == 201
    assert admin.post("/api/v1/users", json=body).json()["field"] == "username"
    assert _login(env, "new-user", "long enough password")[1].status_code == 200
    assert env.anonymous().post("/api/v1/auth/signup", json=body).status_code == 403
    bad = admin.post("/api/v1/users", json={"username": "x y", "password": "short"})
    assert bad.status_code == 422
    assert {tuple(e["loc"]) for e in bad.json()["detail"]} == {
        ("body", "username"),
        ("body", "password"),
    }
    assert "input" not in bad.json()["detail"][0]  # never echo submitted values


def test_deactivated_users_lose_access(env: Env) -> None:
    admin = env.client(env.user("root", is_admin=True))
    ann = env.user("ann")
    client = env.client(ann)
    assert admin.patch(f"/api/v1/users/{ann.id}", json={"is_active": False}).status_code == 200
    assert client.get("/api/v1/auth/me").status_code == 401
    assert _login(env, "ann")[1].status_code == 401


def test_bootstrap_creates_an_admin_once_with_a_generated_password(env: Env) -> None:
    hasher = env.app.state.password_hasher
    with env.session() as session:
        password = bootstrap_admin(session, hasher, env.settings)
        assert password and len(password) >= 16
        assert bootstrap_admin(session, hasher, env.settings) is None
    _, response = _login(env, "admin", password)
    assert response.status_code == 200
    me = env.anonymous().get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {response.json()['access_token']}"}
    )
    assert me.json()["is_admin"] is True


@pytest.mark.parametrize("secret", [None, "", "changeme", "short-secret"])
def test_production_refuses_weak_secrets(tmp_path: Path, secret: str | None) -> None:
    settings = Settings(_env_file=None, env="production", data_dir=tmp_path, secret_key=secret)
    with pytest.raises(ValueError, match="secret_key"):
        resolve_secret_key(settings)


def test_development_generates_and_persists_a_secret(tmp_path: Path) -> None:
    first = resolve_secret_key(Settings(_env_file=None, data_dir=tmp_path))
    second = resolve_secret_key(Settings(_env_file=None, data_dir=tmp_path))
    assert first == second and len(first) >= 32
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
