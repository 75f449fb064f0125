"""The speed routes (issue 18) on SQLite and PostgreSQL: editors publish a measured speed of a
run's export, viewers list it, outsiders learn nothing; bodies are validated naming the field;
a retried publish (same weights, batch, threads and machine) stores no second row."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from server.db.speed_models import SpeedMeasurement
from tests.server.conftest import Env

SHA = "ab" * 32


def measurement(**changes: Any) -> dict[str, Any]:
    """A consistent benchmark body (speed-up = conv2d_ms / export_ms)."""
    body: dict[str, Any] = {
        "checkpoint": "stage-1.safetensors",
        "stage": 1,
        "weights_sha256": SHA,
        "batch": 32,
        "threads": 2,
        "machine": "bench-host",
        "cpu": "x86_64",
        "torch": "2.5.1",
        "conv2d_ms": 12.5,
        "export_ms": 5.0,
        "speedup": 2.5,
        "measured_at": "2026-12-01T10:00:00+00:00",
        "layers": {
            "features.conv1": {
                "conv2d_ms": 4.0,
                "sparse_ms": 1.0,
                "speedup": 4.0,
                "strategy": "gemm",
            },
        },
    }
    body.update(changes)
    return body


def rows(env: Env) -> int:
    with env.session() as session:
        return int(session.scalar(select(func.count()).select_from(SpeedMeasurement)) or 0)


def test_editors_publish_viewers_list_outsiders_get_404(env: Env, team: dict[str, Any]) -> None:
    run = env.submit(team["owner"], team["alpha"])
    url = f"/api/v1/runs/{run['id']}/speed"
    created = team["editor"].post(url, json=measurement())
    assert created.status_code == 201, created.text
    stored = created.json()
    assert stored["run_id"] == run["id"] and stored["speedup"] == 2.5
    assert stored["layers"]["features.conv1"]["sparse_ms"] == 1.0
    assert stored["measured_at"].startswith("2026-12-01T10:00:00")
    assert team["viewer"].get(url).json() == [stored]
    refused = team["viewer"].post(url, json=measurement(machine="other"))
    assert refused.status_code == 403, refused.text
    missing = f"/api/v1/runs/{run['id'] + 1000}/speed"
    for method in ("GET", "POST"):
        outsider = team["outsider"].request(method, url, json=measurement(machine="x"))
        nowhere = team["outsider"].request(method, missing, json=measurement())
        assert outsider.status_code == 404 and outsider.json() == nowhere.json()
        assert env.anonymous().request(method, url, json=measurement()).status_code == 401
    assert rows(env) == 1
    changes = team["viewer"].get(f"/api/v1/runs/{run['id']}/changes").json()
    kinds = [event["kind"] for event in changes["events"]]
    assert "speed.measured" in kinds  # the run page redraws on it


def test_a_retried_publish_stores_no_second_row(env: Env, team: dict[str, Any]) -> None:
    run = env.submit(team["owner"], team["alpha"])
    url = f"/api/v1/runs/{run['id']}/speed"
    first = team["editor"].post(url, json=measurement())
    again = team["editor"].post(url, json=measurement())
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"] and rows(env) == 1
    newer = measurement(export_ms=2.5, speedup=5.0, measured_at="2026-12-01T11:00:00Z")
    updated = team["owner"].post(url, json=newer)
    assert updated.status_code == 200 and updated.json()["speedup"] == 5.0
    older = measurement(export_ms=10.0, speedup=1.25, measured_at="2026-11-30T11:00:00Z")
    kept = team["editor"].post(url, json=older)
    assert kept.status_code == 200 and kept.json()["speedup"] == 5.0  # an older one is not kept
    others = ({"threads": 1}, {"batch": 8}, {"machine": "laptop"}, {"weights_sha256": "cd" * 32})
    for other in others:
        assert team["editor"].post(url, json=measurement(**other)).status_code == 201
    assert rows(env) == 5
    listed = team["viewer"].get(url).json()
    times = [m["measured_at"] for m in listed]
    assert times == sorted(times, reverse=True) and listed[0]["speedup"] == 5.0


@pytest.mark.parametrize(
    ("changes", "loc", "words"),
    [
        ({"batch": 0}, ["body", "batch"], "greater than or equal to 1"),
        ({"threads": 0}, ["body", "threads"], "greater than or equal to 1"),
        ({"conv2d_ms": -1.0}, ["body", "conv2d_ms"], "greater than 0"),
        ({"export_ms": 0}, ["body", "export_ms"], "greater than 0"),
        ({"speedup": 4.0}, ["body", "speedup"], "conv2d_ms / export_ms = 2.5"),
        ({"weights_sha256": "xyz"}, ["body", "weights_sha256"], "pattern"),
        ({"machine": ""}, ["body", "machine"], "at least 1"),
        ({"machine": "m" * 201}, ["body", "machine"], "at most 200"),
        ({"machine": "a\x00b"}, ["body", "machine"], "NUL"),
        ({"measured_at": "2999-01-01T00:00:00Z"}, ["body", "measured_at"], "future"),
        ({"measured_at": "0001-01-01T00:00:00+01:00"}, ["body", "measured_at"], "after 2000"),
        ({"layers": {f"l{i}": {"conv2d_ms": 1, "sparse_ms": 1, "speedup": 1} for i in range(1001)}},
         ["body", "layers"], "at most 1000"),
        ({"layers": {"conv": {"conv2d_ms": -2, "sparse_ms": 1, "speedup": 1}}},
         ["body", "layers", "conv", "conv2d_ms"], "greater than 0"),
        ({"wall_ms": 3}, ["body", "wall_ms"], "Extra inputs"),
    ],
)  # fmt: skip
def test_invalid_bodies_are_422_naming_the_field(
    env: Env, team: dict[str, Any], changes: dict[str, Any], loc: list[str], words: str
) -> None:
    run = env.submit(team["owner"], team["alpha"])
    response = team["editor"].post(f"/api/v1/runs/{run['id']}/speed", json=measurement(**changes))
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    assert [e["loc"] for e in errors] == [loc]
    assert words in errors[0]["msg"]
    assert rows(env) == 0


def test_a_missing_time_is_named(env: Env, team: dict[str, Any]) -> None:
    run = env.submit(team["owner"], team["alpha"])
    body = measurement()
    del body["export_ms"]
    response = team["editor"].post(f"/api/v1/runs/{run['id']}/speed", json=body)
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [["body", "export_ms"]]


def test_deleting_the_run_deletes_its_measurements(env: Env, team: dict[str, Any]) -> None:
    run = env.submit(team["owner"], team["alpha"])
    url = f"/api/v1/runs/{run['id']}"
    assert team["owner"].post(f"{url}/speed", json=measurement()).status_code == 201
    assert team["owner"].delete(url).status_code == 204
    assert rows(env) == 0
