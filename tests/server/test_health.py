"""Liveness, readiness (database + pluggable broker check) and the dispatch hook."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from server.health.checks import broker_check_for
from server.runs.dispatch import load_enqueue, noop_enqueue
from tests.server.conftest import Env


def test_healthz_and_readyz(env: Env) -> None:
    client = env.anonymous()
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok", "broker": "ok"}


def test_readyz_names_the_failing_dependency(env: Env) -> None:
    def down() -> None:
        raise ConnectionError("no broker")

    saved, env.app.state.broker_check = env.app.state.broker_check, down
    try:
        response = env.anonymous().get("/readyz")
    finally:
        env.app.state.broker_check = saved
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "ok", "broker": "error: ConnectionError"}


def test_default_broker_checks(tmp_path: Path) -> None:
    broker_check_for(f"sqla+sqlite:///{tmp_path / 'b' / 'broker.sqlite'}")()
    assert (tmp_path / "b").is_dir()
    with pytest.raises(Exception):  # nothing listens on port 1
        broker_check_for("redis://127.0.0.1:1/0")()


def test_a_failing_dispatch_hook_leaves_the_run_queued(env: Env, team: dict[str, Any]) -> None:
    def broken(_run_id: int) -> None:
        raise ConnectionError("broker down")

    env.app.state.enqueue_run = broken
    run = env.submit(team["editor"], team["alpha"])
    assert team["editor"].get(f"/api/v1/runs/{run['id']}").json()["status"] == "queued"


def test_dispatcher_setting_imports_a_function() -> None:
    assert load_enqueue(None) is noop_enqueue
    assert load_enqueue("server.runs.dispatch:noop_enqueue") is noop_enqueue
    with pytest.raises(ValueError, match="dispatcher"):
        load_enqueue("server.runs.dispatch")
