"""docker-compose.yml: `docker compose config` when the client has the plugin, else the YAML."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())  # type: ignore[no-any-return]


def test_docker_compose_config_accepts_the_file() -> None:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker client here; the YAML checks below still run")
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip("the docker client has no compose plugin; the YAML checks below still run")
    env = {**os.environ, "WINOPRUNE_SECRET_KEY": "k" * 40}
    done = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE), "config", "--quiet"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


def test_services_share_database_broker_and_artifacts(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"postgres", "redis", "migrate", "api", "worker"} <= set(services)
    for name in ("migrate", "api", "worker"):
        env = services[name]["environment"]
        assert env["WINOPRUNE_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert "@postgres:5432/" in env["WINOPRUNE_DATABASE_URL"]
        assert env["WINOPRUNE_BROKER_URL"] == "redis://redis:6379/0"
        assert "artifacts:/data" in services[name]["volumes"]
        assert env["WINOPRUNE_DATA_DIR"] == "/data"
    assert services["api"]["environment"]["WINOPRUNE_DISPATCHER"] == "worker.tasks:enqueue_run"
    assert services["api"]["environment"]["WINOPRUNE_WORKER_EMBEDDED"] == "false"
    assert set(compose["volumes"]) >= {"pgdata", "redisdata", "artifacts"}


def test_migrations_run_before_the_api_and_workers(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "upgrade_to_head" in " ".join(services["migrate"]["command"])
    for name in ("api", "worker"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["redis"]["condition"] == "service_healthy"


def test_the_worker_reserves_one_gpu_and_runs_the_worker_module(compose: dict[str, Any]) -> None:
    worker = compose["services"]["worker"]
    devices = worker["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    assert worker["command"][:3] == ["python", "-m", "worker"]
    assert "ports" not in worker and "container_name" not in worker  # scalable
