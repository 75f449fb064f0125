"""The role matrix, taken from the OpenAPI: every state-changing project-scoped route refuses
members below its minimum role with 403 and changes nothing (no row, no file), whatever state
the run is in (a refused retry must not depend on the run being retryable)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from safetensors.torch import save
from sqlalchemy import select, update

from server.db.base import Base
from server.db.models import Run, Stage
from server.db.sensitivity_models import SensitivityPoint, SensitivityScan
from tests.server.conftest import Env, recipe
from tests.server.test_security import BODIES, ROUTES, SCOPED_PARAMS
from winoprune.models import build_model

WRITES = ("POST", "PUT", "PATCH", "DELETE")
RANK = ("viewer", "editor", "owner")

# the least role each state-changing project-scoped route needs
MINIMUM: dict[tuple[str, str], str] = {
    ("PATCH", "/api/v1/projects/{project_id}"): "owner",
    ("POST", "/api/v1/projects/{project_id}/members"): "owner",
    ("PATCH", "/api/v1/projects/{project_id}/members/{user_id}"): "owner",
    ("DELETE", "/api/v1/projects/{project_id}/members/{user_id}"): "owner",  # others' membership
    ("POST", "/api/v1/projects/{project_id}/artifacts"): "editor",
    ("DELETE", "/api/v1/artifacts/{artifact_id}"): "editor",
    ("POST", "/api/v1/runs"): "editor",  # the project is in the body
    ("PATCH", "/api/v1/runs/{run_id}"): "editor",
    ("DELETE", "/api/v1/runs/{run_id}"): "owner",  # of a run by someone else
    ("POST", "/api/v1/runs/{run_id}/cancel"): "editor",
    ("POST", "/api/v1/runs/{run_id}/retry"): "editor",
    ("POST", "/api/v1/runs/{run_id}/resume"): "editor",
    ("POST", "/api/v1/runs/{run_id}/clone"): "editor",
    ("POST", "/api/v1/runs/{run_id}/speed"): "editor",  # issue 18: a measured speed
    ("POST", "/api/v1/tracking/runs"): "editor",  # the project is in the body
    ("POST", "/api/v1/tracking/runs/{run_id}/batches"): "editor",
    ("POST", "/api/v1/tracking/runs/{run_id}/checkpoints"): "editor",
    ("POST", "/api/v1/tracking/runs/{run_id}/finish"): "editor",
    ("POST", "/api/v1/sensitivity"): "editor",  # the project is in the body
    ("POST", "/api/v1/sensitivity/{scan_id}/cancel"): "editor",
    ("POST", "/api/v1/sensitivity/{scan_id}/resume"): "editor",
    ("POST", "/api/v1/sensitivity/{scan_id}/allocate"): "viewer",  # reads the curves only
}
TRACKED = {"project": 0, "description": "an external run", "name": "tracked"}
# state-changing routes that act on the caller's own account or need an admin, not a project
UNSCOPED = {
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/logout"),
    ("POST", "/api/v1/auth/signup"),
    ("POST", "/api/v1/auth/password"),
    ("POST", "/api/v1/auth/tokens"),
    ("DELETE", "/api/v1/auth/tokens/{token_id}"),
    ("POST", "/api/v1/users"),
    ("PATCH", "/api/v1/users/{user_id}"),
    ("POST", "/api/v1/projects"),
    ("POST", "/ui/api/yaml"),  # parses text, stores nothing
}
RUN_STATES = ("queued", "failed", "succeeded")

CASES = [
    (method, path, role, state)
    for (method, path), minimum in sorted(MINIMUM.items())
    for role in RANK[: RANK.index(minimum)]
    for state in (RUN_STATES if "{run_id}" in path else ("queued",))
]


def test_every_state_changing_route_is_in_the_matrix() -> None:
    writes = {(m, p) for m, p in ROUTES if m in WRITES}
    assert writes == set(MINIMUM) | UNSCOPED, "classify the new route in MINIMUM or UNSCOPED"
    assert not set(MINIMUM) & UNSCOPED
    scoped = {r for r in writes if any(p in r[1] for p in SCOPED_PARAMS)}
    assert scoped - {("DELETE", "/api/v1/auth/tokens/{token_id}")} <= set(MINIMUM)


def set_run_state(env: Env, run_id: int, state: str) -> None:
    """failed: stage 0 failed after pretraining; succeeded: every stage done."""
    with env.session() as session:
        session.execute(update(Run).where(Run.id == run_id).values(status=state))
        if state != "queued":
            session.execute(update(Stage).where(Stage.run_id == run_id).values(status="succeeded"))
        if state == "failed":
            session.execute(
                update(Stage)
                .where(Stage.run_id == run_id, Stage.index >= 0)
                .values(status="failed")
            )
        session.commit()


def snapshot(env: Env) -> dict[str, Any]:
    """Every row of every table, and every file under the data folder."""
    data: dict[str, Any] = {}
    with env.session() as session:
        for table in Base.metadata.sorted_tables:
            data[table.name] = sorted(repr(tuple(row)) for row in session.execute(select(table)))
    root = Path(env.settings.data_dir)
    data["files"] = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    return data


def weights() -> bytes:
    return save({k: v.contiguous() for k, v in build_model("digits-cnn").state_dict().items()})


@pytest.fixture
def world(env: Env, team: dict[str, Any]) -> Iterator[dict[str, Any]]:
    owner = team["owner"]
    run = env.submit(owner, team["alpha"])
    artifact = owner.post(
        f"/api/v1/projects/{team['alpha']}/artifacts",
        files={"file": ("w.safetensors", weights())},
        data={"model": "digits-cnn"},
    )
    assert artifact.status_code == 201, artifact.text
    tracked = owner.post("/api/v1/tracking/runs", json={**TRACKED, "project": team["alpha"]})
    assert tracked.status_code == 201, tracked.text
    ids = {
        "project_id": team["alpha"],
        "run_id": run["id"],
        "artifact_id": artifact.json()["id"],
        "external_run_id": tracked.json()["id"],  # the tracking routes' run
        "scan_id": running_scan(env, owner, team["alpha"], artifact.json()["id"]),
    }
    yield {"ids": ids, **team}
    # the database is cleaned between tests, the files are not: later tests count them
    shutil.rmtree(env.settings.artifacts_dir, ignore_errors=True)


def scan_body(project: int, artifact: int) -> dict[str, Any]:
    return {"project": project, "source": "artifact", "artifact_id": artifact,
            "recipe": recipe(), "method": "native-winograd"}  # fmt: skip


def running_scan(env: Env, owner: Any, project: int, artifact: int) -> int:
    """A running sensitivity scan with one layer's curve (points at 0 and 90 %)."""
    scan_id = int(owner.post("/api/v1/sensitivity", json=scan_body(project, artifact)).json()["id"])
    with env.session() as session:
        scan = session.get(SensitivityScan, scan_id)
        scan.status, scan.points_total = "running", 2
        scan.layers = [{"name": "conv", "numel": 10, "mult_dense": 40}]
        scan.baseline = {"accuracy": 0.9, "loss": 0.3}
        for index, s in enumerate((0.0, 0.9)):
            point = SensitivityPoint(
                scan_id=scan_id, layer="conv", grid_index=index, target=s, sparsity=s,
                accuracy=0.9 - s / 10, loss=0.3 + s, multiplications=int(40 * (1 - s)),
                mult_saved=int(40 * s),
            )  # fmt: skip
            session.add(point)
        session.commit()
    return scan_id


def request_of(world: dict[str, Any], method: str, path: str, caller: str) -> dict[str, Any]:
    """The request; a member route targets another member than the caller (not the owner)."""
    target = world["users"]["viewer" if caller != "viewer" else "editor"]
    ids = {**world["ids"], "user_id": target.id}
    kwargs: dict[str, Any] = {"method": method, "url": path.format(**ids)}
    if (method, path) in BODIES:
        kwargs["json"] = BODIES[(method, path)]
    if (method, path) == ("POST", "/api/v1/projects/{project_id}/members"):
        kwargs["json"] = {"username": "oscar", "role": "editor"}
    if (method, path) == ("POST", "/api/v1/runs"):
        kwargs["json"] = {"project": ids["project_id"], "recipe": recipe()}
    if (method, path) == ("POST", "/api/v1/sensitivity"):
        kwargs["json"] = scan_body(ids["project_id"], ids["artifact_id"])
    if (method, path) == ("POST", "/api/v1/tracking/runs"):
        kwargs["json"] = {**TRACKED, "project": ids["project_id"]}
    if path.startswith("/api/v1/tracking/runs/"):
        kwargs["url"] = path.format(**{**ids, "run_id": ids["external_run_id"]})
    if path.endswith("/checkpoints"):
        kwargs["files"] = {"file": ("c.safetensors", weights())}
        kwargs["data"] = {"stage": "0", "epoch": "0"}
    if path.endswith("/artifacts") and method == "POST":
        kwargs["files"] = {"file": ("w.safetensors", weights())}
        kwargs["data"] = {"model": "digits-cnn"}
    return kwargs


@pytest.mark.parametrize(
    ("method", "path", "role", "state"), CASES, ids=[" ".join(c) for c in CASES]
)
def test_members_below_the_minimum_role_get_403_and_nothing_changes(
    env: Env, world: dict[str, Any], method: str, path: str, role: str, state: str
) -> None:
    set_run_state(env, world["ids"]["run_id"], state)
    before = snapshot(env)
    response = world[role].request(**request_of(world, method, path, role))
    assert response.status_code == 403, response.text
    assert "Traceback" not in response.text
    assert snapshot(env) == before
    assert env.enqueued == [world["ids"]["run_id"]]  # only the owner's submission was queued


@pytest.mark.parametrize(
    ("method", "path"), sorted(MINIMUM), ids=[" ".join(r) for r in sorted(MINIMUM)]
)
def test_the_minimum_role_is_not_refused(
    env: Env, world: dict[str, Any], method: str, path: str
) -> None:
    """The positive control: the same request from a member at the minimum role gets past the
    role check (so the 403s above are the role's doing, not a bad request)."""
    ids = world["ids"]
    set_run_state(env, ids["run_id"], "succeeded" if path.endswith("/resume") else "failed")
    if path.endswith("/cancel"):
        set_run_state(env, ids["run_id"], "queued")
    role = MINIMUM[(method, path)]
    response = world[role].request(**request_of(world, method, path, role))
    assert response.status_code < 400, response.text
