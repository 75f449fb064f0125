"""A real Celery worker on a private Redis (restarted in the test) and PostgreSQL."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.serving import free_port
from tests.conftest import service_missing
from tests.server.conftest import create_pg_database, drop_pg_database
from tests.worker.stack import (
    TINY_RECIPE,
    Stack,
    assert_complete_results,
    make_settings,
    slow_recipe,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres]
DONE = ("succeeded", "failed", "cancelled")


class PrivateRedis:
    """redis-server on its own port without persistence: a restart loses every message."""

    def __init__(self, folder: Path) -> None:
        self.port, self.folder = free_port(), folder
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            service_missing("Redis", "redis-server is not installed")
        self.process = subprocess.Popen(
            [
                str(binary),
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self._answers, 10, f"redis-server on port {self.port}", 0.05)

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        time.sleep(0.5)
        self.start()


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path_factory.mktemp("redis"))
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def stack(redis_server: PrivateRedis, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    database_url = create_pg_database("wp_worker")
    tmp = tmp_path_factory.mktemp("redis-stack")
    # 1.2 s time slices: every run crosses several handovers through Redis
    settings = make_settings(
        tmp, database_url=database_url, broker_url=redis_server.url, worker_slice_minutes=0.02
    )
    stack = None
    try:
        stack = Stack(settings, tmp)
        stack.start_worker()
        yield stack
    finally:
        if stack is not None:
            stack.close()
        drop_pg_database(database_url)


def test_digits_run_on_redis_and_postgresql(stack: Stack) -> None:
    run_id = stack.submit(TINY_RECIPE)
    run = stack.wait_status(run_id, DONE, 90)
    assert run["status"] == "succeeded", run
    assert run["attempt_count"] == 1
    assert_complete_results(stack, run_id, TINY_RECIPE)
    slices = stack.client.get(f"/api/v1/runs/{run_id}/changes", params={"after": 0}).json()
    resumed = [e for e in slices["events"] if "resuming from" in str(e["data"])]
    assert resumed, "the run should have crossed at least one slice boundary"


def test_runs_survive_a_redis_restart_while_queued(
    stack: Stack, redis_server: PrivateRedis
) -> None:
    recipe = slow_recipe(epochs=6)
    first, second = stack.submit(recipe), stack.submit(recipe)
    wait_for(lambda: stack.run(first)["status"] == "running", 60, "the first run to start")
    assert stack.run(second)["status"] == "queued"

    redis_server.restart()  # the second run's message (and the first's next slice) are gone

    for run_id in (first, second):
        run = stack.wait_status(run_id, DONE, 120)
        assert run["status"] == "succeeded", run
        assert_complete_results(stack, run_id, recipe)
