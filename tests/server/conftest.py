"""Server test fixtures: one migrated database per backend per session, cleaned between tests."""

from __future__ import annotations

import copy
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from server.auth.service import create_access_token
from server.config import Settings
from server.db.base import Base
from server.db.migrate import upgrade_to_head
from server.db.models import Membership, Project, User
from server.main import create_app
from server.users.service import create_user
from tests.conftest import service_missing

PG_ADMIN_URL = os.environ.get(
    "WINOPRUNE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
PASSWORD = "correct horse battery"

DIGITS_RECIPE: dict[str, Any] = {
    "name": "digits-demo",
    "model": {"name": "digits-cnn"},
    "method": "spatial-winograd",
    "pretrain": {"epochs": 1, "optimizer": {"name": "sgd", "lr": 0.05}},
    "stages": [
        {
            "type": "spatial-structured",
            "target": 0.3,
            "epochs": 1,
            "optimizer": {"name": "sgd", "lr": 0.01},
        },
        {
            "type": "winograd-direct",
            "target": 0.5,
            "epochs": 1,
            "optimizer": {"name": "sgd", "lr": 0.01},
        },
    ],
}


def recipe(**changes: Any) -> dict[str, Any]:
    """A valid digits recipe with top-level changes."""
    data = copy.deepcopy(DIGITS_RECIPE)
    data.update(changes)
    return data


def pg_admin_engine() -> Engine:
    """An autocommit engine on the `test` database (for CREATE/DROP DATABASE)."""
    return create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")


def create_pg_database(prefix: str = "wp_test") -> str:
    """Create a uniquely named database; returns its URL (skips when PostgreSQL is down)."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    engine = pg_admin_engine()
    try:
        with engine.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        service_missing("PostgreSQL", f"{PG_ADMIN_URL}: {type(exc).__name__}: {exc}"[:300])
    finally:
        engine.dispose()
    return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(url: str) -> None:
    """Drop a database made by create_pg_database (closing leftover connections)."""
    name = make_url(url).database
    engine = pg_admin_engine()
    try:
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A freshly migrated database per backend, for the whole session."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'test.sqlite'}"
        upgrade_to_head(url)
        yield url
        return
    url = create_pg_database()
    try:
        upgrade_to_head(url)
        yield url
    finally:
        drop_pg_database(url)


@pytest.fixture(scope="session")
def session_app(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    """One app per backend (the engine is reused; state is cleaned per test)."""
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        data_dir=tmp_path_factory.mktemp("data"),
        secret_key="s" * 48,
        argon2_time_cost=1,
        argon2_memory_kib=8,
        argon2_parallelism=1,
        max_upload_mb=1,
        events_poll_s=0.05,
    )
    app = create_app(settings)
    yield app
    app.state.engine.dispose()


def _clean(engine: Engine) -> None:
    tables = list(reversed(Base.metadata.sorted_tables))
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            names = ", ".join(t.name for t in tables)
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                connection.execute(table.delete())


@dataclass
class Env:
    """The app under test plus helpers to make users, projects and authenticated clients."""

    app: FastAPI
    enqueued: list[int] = field(default_factory=list)

    @property
    def backend(self) -> str:
        return str(self.app.state.engine.dialect.name)

    @property
    def settings(self) -> Settings:
        return self.app.state.settings  # type: ignore[no-any-return]

    def session(self) -> Session:
        return self.app.state.session_factory()  # type: ignore[no-any-return]

    def anonymous(self) -> TestClient:
        return TestClient(self.app, raise_server_exceptions=False)

    def user(self, username: str, is_admin: bool = False) -> User:
        with self.session() as session:
            return create_user(
                session, self.app.state.password_hasher, username, PASSWORD, is_admin
            )

    def client(self, user: User) -> TestClient:
        """A client authenticated with a bearer JWT."""
        token, _ = create_access_token(self.settings, user)
        client = self.anonymous()
        client.headers["Authorization"] = f"Bearer {token}"
        return client

    def project(self, name: str, members: dict[User, str]) -> int:
        with self.session() as session:
            project = Project(name=name)
            session.add(project)
            session.flush()
            for member, role in members.items():
                session.add(Membership(project_id=project.id, user_id=member.id, role=role))
            session.commit()
            return project.id

    def submit(self, client: TestClient, project_id: int, **body: Any) -> dict[str, Any]:
        response = client.post(
            "/api/v1/runs", json={"project": project_id, "recipe": recipe(), **body}
        )
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]


@pytest.fixture
def env(session_app: FastAPI) -> Iterator[Env]:
    """A clean database and fresh per-app state for each test (failed logins are rows too)."""
    environment = Env(app=session_app)
    session_app.state.enqueue_run = environment.enqueued.append
    yield environment
    _forget_resends(session_app)
    _clean(session_app.state.engine)


def _forget_resends(app: FastAPI) -> None:
    """Drop the run ids a failing hook left for re-sending: the next test reuses those ids (the
    database restarts its identities), and a late re-send would count as its dispatch."""
    resender = getattr(app.state, "resender", None)
    if resender is not None:
        with resender.lock:
            resender.pending.clear()


@pytest.fixture
def team(env: Env) -> dict[str, Any]:
    """Project "alpha" with an owner, an editor and a viewer; an outsider in project "beta"."""
    owner, editor = env.user("olivia"), env.user("eddie")
    viewer, outsider = env.user("vera"), env.user("oscar")
    alpha = env.project("alpha", {owner: "owner", editor: "editor", viewer: "viewer"})
    beta = env.project("beta", {outsider: "owner"})
    return {
        "alpha": alpha,
        "beta": beta,
        "owner": env.client(owner),
        "editor": env.client(editor),
        "viewer": env.client(viewer),
        "outsider": env.client(outsider),
        "users": {"owner": owner, "editor": editor, "viewer": viewer, "outsider": outsider},
    }


def artifacts_root(env: Env) -> Path:
    """The artifacts folder of the app under test."""
    return env.settings.artifacts_dir
