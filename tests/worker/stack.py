"""A real service stack for worker tests: migrated database, the API (in-process TestClient),
Celery worker subprocesses on a real broker, and bounded waits."""

from __future__ import annotations

import copy
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.auth.service import create_access_token
from server.config import Settings
from server.db.migrate import upgrade_to_head
from server.db.models import LayerStat, Membership, Metric, Project
from server.main import create_app
from server.serving import free_port
from server.users.service import create_user
from worker.dispatch import Dispatcher
from worker.launcher import prepare_broker, spawn_worker, stop_worker

TINY_RECIPE: dict[str, Any] = {
    "name": "digits-tiny",
    "model": {"name": "digits-cnn"},
    "device": "cpu",
    "batch_size": 64,
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
            "epochs": 2,
            "optimizer": {"name": "sgd", "lr": 1.0e-4},
            "grad_exponent": 1.5,
        },
    ],
}


def slow_recipe(epochs: int = 12) -> dict[str, Any]:
    """A digits recipe whose stage 0 trains long enough (~1 s/epoch) to interrupt it."""
    recipe = copy.deepcopy(TINY_RECIPE)
    recipe["name"] = "digits-slow"
    recipe["batch_size"] = 16
    recipe["stages"][0]["epochs"] = epochs
    return recipe


def make_settings(tmp: Path, **overrides: Any) -> Settings:
    """Test settings: SQLite in ``tmp`` (and the embedded broker) unless overridden, fast
    heartbeats, short leases and a quick sweeper."""
    values: dict[str, Any] = {
        "data_dir": tmp / "data",
        "secret_key": "s" * 48,
        "argon2_time_cost": 1,
        "argon2_memory_kib": 8,
        "argon2_parallelism": 1,
        "events_poll_s": 0.05,
        "worker_heartbeat_s": 0.5,
        "worker_lease_s": 4.0,
        "worker_sweep_interval_s": 1.0,
        "worker_requeue_after_s": 3.0,
        "worker_retry_delay_s": 1.0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def wait_for(
    predicate: Callable[[], Any], timeout_s: float, what: str, interval_s: float = 0.2
) -> Any:
    """Poll ``predicate`` until it returns something truthy; AssertionError after the timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(interval_s)


@dataclass
class Stack:
    """The API, a project with an editor, and the worker processes started so far."""

    settings: Settings
    tmp: Path
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        upgrade_to_head(self.settings.resolved_database_url)
        prepare_broker(self.settings)
        self.app = create_app(self.settings)
        self.dispatcher = Dispatcher.for_settings(self.settings)
        self.app.state.enqueue_run = self.dispatcher
        with self.session() as session:
            user = create_user(session, self.app.state.password_hasher, "alice", "pw-123456789")
            project = Project(name="worker-tests")
            session.add(project)
            session.flush()
            session.add(Membership(project_id=project.id, user_id=user.id, role="owner"))
            session.commit()
            self.project_id = project.id
            token, _ = create_access_token(self.settings, user)
        self.client = TestClient(self.app, raise_server_exceptions=True)
        self.client.headers["Authorization"] = f"Bearer {token}"

    def session(self) -> Session:
        return self.app.state.session_factory()  # type: ignore[no-any-return]

    # -- workers ----------------------------------------------------------------------------
    def start_worker(self) -> subprocess.Popen[bytes]:
        log = self.tmp / f"worker-{len(self.logs)}.log"
        self.logs.append(log)
        process = spawn_worker(self.settings, name=f"test{len(self.logs)}", log_file=log)
        self.workers.append(process)
        return process

    def kill_workers(self) -> None:
        """SIGKILL every worker process group (no shutdown code runs)."""
        for process in self.workers:
            if process.poll() is None:
                import os

                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)

    def close(self) -> None:
        for process in self.workers:
            stop_worker(process, timeout_s=5)
        self.client.close()
        self.app.state.engine.dispose()

    def log_tail(self, chars: int = 4000) -> str:
        return "\n".join(p.read_text(errors="replace")[-chars:] for p in self.logs if p.exists())

    # -- runs -------------------------------------------------------------------------------
    def submit(self, recipe: dict[str, Any]) -> int:
        reply = self.client.post(
            "/api/v1/runs", json={"project": self.project_id, "recipe": recipe}
        )
        assert reply.status_code == 201, reply.text
        return int(reply.json()["id"])

    def run(self, run_id: int) -> dict[str, Any]:
        reply = self.client.get(f"/api/v1/runs/{run_id}")
        assert reply.status_code == 200, reply.text
        return reply.json()  # type: ignore[no-any-return]

    def wait_status(self, run_id: int, states: tuple[str, ...], timeout_s: float) -> dict[str, Any]:
        try:
            return wait_for(  # type: ignore[no-any-return]
                lambda: (r := self.run(run_id))["status"] in states and r,
                timeout_s,
                f"run {run_id} to be {states}",
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}; run: {self.run(run_id)}\n{self.log_tail()}") from None

    def epochs_done(self, run_id: int, stage: int) -> int:
        """How many epoch points (incl. epoch 0) stage ``stage`` has in the metrics table."""
        with self.session() as session:
            return int(
                session.scalar(
                    select(func.count(func.distinct(Metric.epoch))).where(
                        Metric.run_id == run_id, Metric.stage == stage
                    )
                )
                or 0
            )

    def metric_points(self, run_id: int) -> dict[tuple[int, int], int]:
        """{(stage, epoch): number of metric keys}."""
        with self.session() as session:
            rows = session.execute(
                select(Metric.stage, Metric.epoch, func.count())
                .where(Metric.run_id == run_id)
                .group_by(Metric.stage, Metric.epoch)
            ).all()
        return {(s, e): n for s, e, n in rows}

    def layer_points(self, run_id: int) -> dict[tuple[int, int], int]:
        """{(stage, epoch): number of layer rows}."""
        with self.session() as session:
            rows = session.execute(
                select(LayerStat.stage, LayerStat.epoch, func.count())
                .where(LayerStat.run_id == run_id)
                .group_by(LayerStat.stage, LayerStat.epoch)
            ).all()
        return {(s, e): n for s, e, n in rows}


def expected_points(recipe: dict[str, Any]) -> set[tuple[int, int]]:
    """Every (stage, epoch) a finished run of ``recipe`` reports: epochs 0..E of each stage."""
    points = (
        {(-1, e) for e in range(recipe["pretrain"]["epochs"] + 1)}
        if recipe.get("pretrain")
        else set()
    )
    for index, stage in enumerate(recipe["stages"]):
        points |= {(index, e) for e in range(stage["epochs"] + 1)}
    return points


def assert_complete_results(stack: Stack, run_id: int, recipe: dict[str, Any]) -> None:
    """Metrics and layer rows for every (stage, epoch), each with the same number of rows."""
    metrics, layers = stack.metric_points(run_id), stack.layer_points(run_id)
    assert set(metrics) == expected_points(recipe), sorted(metrics)
    assert set(layers) == expected_points(recipe), sorted(layers)
    assert min(metrics.values()) >= 6  # top1, top5, test_loss, lr, winograd_sparsity, ...
    assert all(count > 0 for count in layers.values())


@contextmanager
def served_stack(tmp: Path) -> Iterator[tuple[Stack, str]]:
    """A stack (API + one worker process) with its app served by uvicorn on a free port, for
    browser tests against a real worker; yields (stack, base URL)."""
    import uvicorn

    stack = Stack(make_settings(tmp), tmp)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(stack.app, host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, 20, "uvicorn to start", 0.05)
        stack.start_worker()
        yield stack, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        stack.close()
