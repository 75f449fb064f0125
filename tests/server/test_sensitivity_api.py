"""Sensitivity scans through the API on SQLite and PostgreSQL: sources, roles, points merged
idempotently by the worker's code, cancel, resume, export, allocation and the scan's change
stream (SSE and its polling fallback)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
import torch
from safetensors.torch import save
from sqlalchemy import func, select

from server.db.models import Artifact, Stage
from server.db.sensitivity_models import SensitivityPoint
from tests.server.conftest import Env, recipe
from winoprune.models import build_model
from worker.checkpoints import build_store
from worker.context import WorkerContext
from worker.sensitivity_runner import plan, scan_points

GRID = [0.0, 0.5, 0.9]


@pytest.fixture
def scans(env: Env) -> list[int]:
    sent: list[int] = []
    env.app.state.enqueue_scan = sent.append
    yield sent
    del env.app.state.enqueue_scan


def upload(client: Any, project: int) -> int:
    torch.manual_seed(5)
    weights = save({k: v.contiguous() for k, v in build_model("digits-cnn").state_dict().items()})
    reply = client.post(
        f"/api/v1/projects/{project}/artifacts",
        files={"file": ("w.safetensors", weights)},
        data={"model": "digits-cnn"},
    )
    assert reply.status_code == 201, reply.text
    return int(reply.json()["id"])


def body(project: int, artifact: int, **changes: Any) -> dict[str, Any]:
    data = {
        "project": project,
        "source": "artifact",
        "artifact_id": artifact,
        "recipe": recipe(device="cpu"),
        "method": "native-winograd",
        "grid": GRID,
        "val_size": 150,
    }
    data.update(changes)
    return data


def context(env: Env) -> WorkerContext:
    return WorkerContext(env.settings, env.app.state.session_factory, build_store(env.settings))


def test_scan_lifecycle_points_export_and_allocation(
    env: Env, team: dict[str, Any], scans: list[int]
) -> None:
    editor, viewer = team["editor"], team["viewer"]
    artifact = upload(editor, team["alpha"])
    reply = editor.post("/api/v1/sensitivity", json=body(team["alpha"], artifact, chunk_size=2))
    assert reply.status_code == 201, reply.text
    scan = reply.json()
    assert scan["status"] == "queued" and scans == [scan["id"]] and scan["options"]["grid"] == GRID
    sent: list[tuple[int, str, list[int]]] = []
    ctx = context(env)
    assert plan(ctx, scan["id"], lambda *a: sent.append(a)).startswith("sent")
    detail = viewer.get(f"/api/v1/sensitivity/{scan['id']}").json()
    layers = [layer["name"] for layer in detail["layers"]]
    assert detail["status"] == "running" and detail["points_total"] == len(layers) * 3
    assert len(sent) == 2 * len(layers)  # chunks of 2 grid points: [0, 1], [2]
    # a task delivered twice, and the same points by two "workers": merged once
    for task in sent + sent[:3]:
        scan_points(ctx, *task)
    with env.session() as session:
        count = session.scalar(select(func.count()).select_from(SensitivityPoint))
    assert count == len(layers) * 3
    detail = viewer.get(f"/api/v1/sensitivity/{scan['id']}").json()
    assert detail["status"] == "succeeded" and detail["points_done"] == count
    first = viewer.get(f"/api/v1/sensitivity/{scan['id']}/points", params={"limit": 4}).json()
    rest = viewer.get(
        f"/api/v1/sensitivity/{scan['id']}/points", params={"after": first["next"]}
    ).json()
    assert len(first["items"]) == 4 and len(first["items"]) + len(rest["items"]) == count
    point = first["items"][0]
    assert 0 <= point["accuracy"] <= 1 and point["mult_saved"] + point["multiplications"] > 0
    exported = viewer.get(f"/api/v1/sensitivity/{scan['id']}/export", params={"format": "csv"})
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert exported.headers["content-type"].startswith("text/csv") and len(rows) == count
    data = viewer.get(f"/api/v1/sensitivity/{scan['id']}/export").json()
    assert {p["layer"] for p in data["points"]} == set(layers) and data["baseline"]["loss"] > 0
    alloc = viewer.post(f"/api/v1/sensitivity/{scan['id']}/allocate", json={"target": 0.6})
    assert alloc.status_code == 200, alloc.text
    result = alloc.json()
    numel = {layer["name"]: layer["numel"] for layer in detail["layers"]}
    measured = {(p["layer"], p["target"]): p["sparsity"] for p in data["points"]}
    overall = sum(numel[n] * measured[(n, s)] for n, s in result["targets"].items())
    overall /= sum(numel.values())
    assert overall >= 0.6 and result["achieved"] == pytest.approx(overall)
    assert set(result["targets"]) == set(layers) and result["curve"]
    unreachable = viewer.post(f"/api/v1/sensitivity/{scan['id']}/allocate", json={"target": 0.95})
    assert unreachable.status_code == 422 and unreachable.json()["detail"][0]["loc"] == [
        "body",
        "target",
    ]
    listed = viewer.get("/api/v1/sensitivity", params={"project": team["alpha"]}).json()["items"]
    assert [s["id"] for s in listed] == [scan["id"]]
    assert editor.post(f"/api/v1/sensitivity/{scan['id']}/cancel").status_code == 409
    # a recipe naming the scan by id is resolved at submit time into explicit targets
    layers = {"allocation": "sensitivity", "scan": str(scan["id"]), "allocation_target": 0.6}
    run = editor.post(
        "/api/v1/runs", json={"project": team["alpha"], "recipe": recipe(layers=layers)}
    )
    assert run.status_code == 201, run.text
    stored = run.json()["recipe"]["layers"]
    assert (
        stored["overrides"] == result["targets"]
        and stored["allocated_from"] == f"scan:{scan['id']}"
    )
    assert "scan" not in stored and "allocation" not in stored
    layers["scan"] = "98765"
    bad = editor.post(
        "/api/v1/runs", json={"project": team["alpha"], "recipe": recipe(layers=layers)}
    )
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == [
        "body",
        "recipe",
        "layers",
        "scan",
    ]


def test_cancel_and_resume_compute_only_missing_points(
    env: Env, team: dict[str, Any], scans: list[int]
) -> None:
    editor = team["editor"]
    scan = editor.post(
        "/api/v1/sensitivity", json=body(team["alpha"], upload(editor, team["alpha"]))
    ).json()
    ctx = context(env)
    sent: list[tuple[int, str, list[int]]] = []
    plan(ctx, scan["id"], lambda *a: sent.append(a))
    scan_points(ctx, *sent[0])  # one layer done, then a cancel request
    assert editor.post(f"/api/v1/sensitivity/{scan['id']}/cancel").json()["cancel_requested"]
    assert scan_points(ctx, *sent[1]) == "cancelled"
    assert editor.get(f"/api/v1/sensitivity/{scan['id']}").json()["status"] == "cancelled"
    with env.session() as session:
        before = {(p.layer, p.grid_index): p.id for p in session.scalars(select(SensitivityPoint))}
    assert len(before) == 3
    resumed = editor.post(f"/api/v1/sensitivity/{scan['id']}/resume").json()
    assert resumed["status"] == "queued" and scans == [scan["id"], scan["id"]]
    again: list[tuple[int, str, list[int]]] = []
    plan(ctx, scan["id"], lambda *a: again.append(a))
    assert sent[0][1] not in {layer for _, layer, _ in again}  # finished layer not re-sent
    for task in again:
        scan_points(ctx, *task)
    with env.session() as session:
        after = {(p.layer, p.grid_index): p.id for p in session.scalars(select(SensitivityPoint))}
    assert {k: after[k] for k in before} == before  # the old rows were kept, not recomputed
    assert editor.get(f"/api/v1/sensitivity/{scan['id']}").json()["status"] == "succeeded"


def test_scan_from_a_run_stage_and_from_a_recipe(
    env: Env, team: dict[str, Any], scans: list[int]
) -> None:
    owner = team["owner"]
    run = env.submit(owner, team["alpha"])
    missing = owner.post(
        "/api/v1/sensitivity",
        json={"source": "run", "run_id": run["id"], "stage": 0, "method": "winograd-direct"},
    )
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["body", "stage"]
    artifact = upload(owner, team["alpha"])
    with env.session() as session:
        path = session.get(Artifact, artifact).path
        session.get(Artifact, artifact).run_id = run["id"]
        stage = session.scalar(select(Stage).where(Stage.run_id == run["id"], Stage.index == 0))
        stage.checkpoint = path
        session.commit()
    made = owner.post(
        "/api/v1/sensitivity",
        json={"source": "run", "run_id": run["id"], "stage": 0, "method": "winograd-direct"},
    )
    assert made.status_code == 201, made.text
    assert made.json()["artifact_id"] == artifact and made.json()["project_id"] == team["alpha"]
    assert (
        owner.get("/api/v1/sensitivity", params={"run_id": run["id"]}).json()["items"][0]["id"]
        == made.json()["id"]
    )
    from_recipe = owner.post(
        "/api/v1/sensitivity",
        json={
            "project": team["alpha"],
            "source": "recipe",
            "method": "native-winograd",
            "recipe": recipe(pretrain=None, init_checkpoint=f"artifact:{artifact}"),
        },
    )
    assert from_recipe.status_code == 201 and from_recipe.json()["artifact_id"] == artifact


def test_roles_outsiders_and_field_errors(env: Env, team: dict[str, Any], scans: list[int]) -> None:
    artifact = upload(team["owner"], team["alpha"])
    good = body(team["alpha"], artifact)
    assert team["viewer"].post("/api/v1/sensitivity", json=good).status_code == 403
    assert team["outsider"].post("/api/v1/sensitivity", json=good).status_code == 404
    scan = team["editor"].post("/api/v1/sensitivity", json=good).json()
    for method, path in [
        ("GET", ""),
        ("GET", "/points"),
        ("GET", "/export"),
        ("POST", "/cancel"),
        ("POST", "/resume"),
        ("GET", "/changes"),
        ("GET", "/events"),
    ]:
        reply = team["outsider"].request(method, f"/api/v1/sensitivity/{scan['id']}{path}")
        assert reply.status_code == 404, (method, path)
    assert team["viewer"].post(f"/api/v1/sensitivity/{scan['id']}/cancel").status_code == 403
    assert team["outsider"].get("/api/v1/sensitivity").json()["items"] == []
    for changes, loc in [
        ({"grid": [0.5, 0.2]}, ["body", "grid"]),
        ({"method": "x"}, ["body", "method"]),
        ({"artifact_id": 98765}, ["body", "artifact_id"]),
        ({"recipe": recipe(tile="F(9,9)")}, ["body", "recipe", "tile"]),
    ]:
        reply = team["editor"].post("/api/v1/sensitivity", json={**good, **changes})
        assert reply.status_code == 422, reply.text
        assert reply.json()["detail"][0]["loc"][: len(loc)] == loc, reply.json()


def test_a_scans_change_notices_stream_to_its_viewers_only(
    env: Env, team: dict[str, Any], scans: list[int]
) -> None:
    editor, viewer = team["editor"], team["viewer"]
    scan = editor.post(
        "/api/v1/sensitivity", json=body(team["alpha"], upload(editor, team["alpha"]))
    ).json()
    url = f"/api/v1/sensitivity/{scan['id']}"
    project_cursor = viewer.get(f"/api/v1/projects/{team['alpha']}/changes").json()["cursor"]
    ctx = context(env)
    sent: list[tuple[int, str, list[int]]] = []
    plan(ctx, scan["id"], lambda *a: sent.append(a))
    scan_points(ctx, *sent[0])
    changes = viewer.get(f"{url}/changes").json()
    kinds = [e["kind"] for e in changes["events"]]
    assert kinds == ["scan.updated"] + ["scan.points"] * len(GRID), kinds
    merged = [(e["data"]["layer"], e["data"]["index"]) for e in changes["events"][1:]]
    assert merged == [(sent[0][1], i) for i in range(len(GRID))]
    assert all(e["data"]["scan_id"] == scan["id"] for e in changes["events"])
    # the project's own stream (the run list) does not carry them
    project = viewer.get(
        f"/api/v1/projects/{team['alpha']}/changes", params={"after": project_cursor}
    )
    assert project.json()["events"] == []
    with viewer.stream(
        "GET", f"{url}/events", params={"max_events": 2, "after": changes["events"][0]["id"]}
    ) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        text = "".join(stream.iter_text())
    names = [line[6:].strip() for line in text.splitlines() if line.startswith("event:")]
    data = [json.loads(line[5:]) for line in text.splitlines() if line.startswith("data:")]
    assert names == ["scan.points", "scan.points"]
    assert [d["id"] for d in data] == [e["id"] for e in changes["events"][1:3]]
    for task in sent[1:]:
        scan_points(ctx, *task)
    last = viewer.get(f"{url}/changes", params={"after": changes["cursor"]}).json()["events"][-1]
    assert (last["kind"], last["data"]["status"]) == ("scan.finished", "succeeded")
    assert env.anonymous().get(f"{url}/events", params={"max_events": 1}).status_code == 401
    assert team["outsider"].get(f"{url}/events", params={"max_events": 1}).status_code == 404
