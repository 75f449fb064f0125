"""Fixtures of the worker tests: an in-process database with a user, a project and runs."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from server.auth.service import password_hasher
from server.db.migrate import upgrade_to_head
from server.db.models import Membership, Project, User
from server.runs.service import create_run
from server.users.service import create_user
from tests.worker.stack import TINY_RECIPE, make_settings
from worker.context import WorkerContext, get_context


@pytest.fixture
def ctx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WorkerContext]:
    """A worker context on a fresh SQLite database (this process only)."""
    settings = make_settings(tmp_path)
    upgrade_to_head(settings.resolved_database_url)
    monkeypatch.setattr("worker.context._contexts", {})
    context = get_context(settings)
    yield context
    bind = context.session_factory.kw["bind"]
    bind.dispose()


def owned_project(ctx: WorkerContext, user_name: str, project_name: str) -> tuple[int, int]:
    """A new user owning a new project: (user id, project id)."""
    with ctx.session() as session:
        user = create_user(session, password_hasher(ctx.settings), user_name, "pw-123456789")
        project = Project(name=project_name)
        session.add(project)
        session.flush()
        session.add(Membership(project_id=project.id, user_id=user.id, role="owner"))
        session.commit()
        return user.id, project.id


@pytest.fixture
def new_run(ctx: WorkerContext) -> Callable[..., int]:
    """Create a queued run of a recipe (default: the tiny digits one); returns its id."""
    user_id, project_id = owned_project(ctx, "bob", "p")

    def make(recipe: dict[str, Any] | None = None) -> int:
        with ctx.session() as session:
            user = session.get(User, user_id)
            run, _ = create_run(
                session, user, project_id, copy.deepcopy(recipe or TINY_RECIPE), [], ""
            )
            return run.id

    return make
