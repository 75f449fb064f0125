"""The tracking API: external runs created by REST clients, fed with idempotent batches and
checkpoints, finished by them; never taken by a worker (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pytest
from safetensors.torch import save
from sqlalchemy import func, select

from server.db.models import LayerStat, Metric, Run
from server.runs.progress import claim_run
from tests.server.conftest import Env, recipe
from winoprune.models import build_model

TRACK = "/api/v1/tracking/runs"


def layer(stage: int, epoch: int, name: str, domain: str = "winograd", **extra: Any) -> dict:
    return {
        "stage": stage,
        "epoch": epoch,
        "layer": name,
        "domain": domain,
        "numel": 100,
        "nnz": 40,
        "sparsity": 0.6,
        "multiplications": 400,
        **extra,
    }


def epoch_metrics(stage: int, epoch: int, top1: float, sparsity: float) -> list[dict]:
    values = {"top1": top1, "winograd_sparsity": sparsity, "test_loss": 1 - top1}
    values |= {"mult_direct": 9000.0, "mult_winograd_sparse": 3000.0}
    return [{"stage": stage, "epoch": epoch, "key": k, "value": v} for k, v in values.items()]


def external(client: Any, project: int, **body: Any) -> dict[str, Any]:
    payload = {"project": project, "description": "my own loop", "name": "mine", **body}
    response = client.post(TRACK, json=payload)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def counts(env: Env, run_id: int) -> tuple[int, int]:
    with env.session() as session:
        metrics = session.scalar(select(func.count()).where(Metric.run_id == run_id))
        layers = session.scalar(select(func.count()).where(LayerStat.run_id == run_id))
    return int(metrics or 0), int(layers or 0)


def test_a_recipe_run_is_external_running_and_never_dispatched(
    env: Env, team: dict[str, Any]
) -> None:
    run = external(team["editor"], team["alpha"], recipe=recipe(), description=None, name=None)
    assert run["external"] is True and run["status"] == "running"
    assert [s["index"] for s in run["stages"]] == [-1, 0, 1]
    assert run["name"] == "digits-demo" and run["method"] == "spatial-winograd"
    assert env.enqueued == []
    with env.session() as session:  # a worker asking for it gets nothing
        assert claim_run(session, run["id"], "worker-1") is None
        assert session.get(Run, run["id"]).lease_owner is None  # type: ignore[union-attr]


def test_invalid_recipe_and_missing_fields_are_422_naming_the_field(
    env: Env, team: dict[str, Any]
) -> None:
    bad = recipe(stages=[{"type": "winograd-direct", "target": 1.5, "epochs": 1}])
    response = team["editor"].post(TRACK, json={"project": team["alpha"], "recipe": bad})
    assert response.status_code == 422
    assert any(d["loc"][:3] == ["body", "recipe", "stages"] for d in response.json()["detail"])
    response = team["editor"].post(TRACK, json={"project": team["alpha"], "description": "x"})
    assert response.status_code == 422 and "name" in response.text


def test_idempotency_key_replays_the_same_run(env: Env, team: dict[str, Any]) -> None:
    body = {"project": team["alpha"], "description": "d", "name": "n"}
    headers = {"Idempotency-Key": "push-1"}
    first = team["editor"].post(TRACK, json=body, headers=headers)
    again = team["editor"].post(TRACK, json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    other = team["editor"].post(TRACK, json={**body, "name": "m"}, headers=headers)
    assert other.status_code == 409


def test_batches_store_rows_and_a_retry_adds_none(env: Env, team: dict[str, Any]) -> None:
    run = external(team["editor"], team["alpha"])
    url = f"{TRACK}/{run['id']}/batches"
    batch = {
        "stages": [{"index": 0, "type": "winograd-direct", "target": 0.5, "status": "running"}],
        "metrics": epoch_metrics(0, 0, 0.8, 0.5) + epoch_metrics(0, 1, 0.9, 0.6),
        "layers": [layer(0, e, f"conv{i}") for e in (0, 1) for i in range(3)],
    }
    first = team["editor"].post(url, json=batch)
    assert first.status_code == 200, first.text
    assert first.json() == {"key": None, "replayed": False, "metrics": 10, "layers": 6, "stages": 1}
    retry = team["editor"].post(url, json=batch)  # no key: natural keys skip the stored rows
    assert retry.json()["metrics"] == 0 and retry.json()["layers"] == 0
    assert counts(env, run["id"]) == (10, 6)
    keyed = {"key": "b-2", "layers": [layer(0, 2, "conv0")]}
    keyed_first = team["editor"].post(url, json=keyed).json()
    assert keyed_first["layers"] == 1, keyed_first
    replay = team["editor"].post(url, json=keyed).json()
    assert replay == {"key": "b-2", "replayed": True, "metrics": 0, "layers": 1, "stages": 0}
    assert counts(env, run["id"]) == (10, 7)
    detail = team["viewer"].get(f"/api/v1/runs/{run['id']}").json()
    assert detail["final"] == {
        "top1": 0.9,
        "winograd_sparsity": 0.6,
        "mult_reduction": 3.0,
        "loss": pytest.approx(0.1),
    }
    assert detail["progress"] == {"stage": 0, "epoch": 2}
    assert detail["stages"][0]["accuracy"] == 0.9 and detail["stages"][0]["status"] == "running"
    layers = team["viewer"].get(f"/api/v1/runs/{run['id']}/layers").json()
    assert layers  # the results API serves the tracked rows like a worker's


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"nnz": 101}, ["body", "layers", 1, "nnz"]),
        ({"sparsity": 1.5}, ["body", "layers", 1, "sparsity"]),
        ({"domain": "fourier"}, ["body", "layers", 1, "domain"]),
        ({"numel": -1}, ["body", "layers", 1, "numel"]),
        ({"extra": 1}, ["body", "layers", 1, "extra"]),
    ],
)
def test_a_bad_row_refuses_the_whole_batch_naming_the_field(
    env: Env, team: dict[str, Any], change: dict[str, Any], loc: list[Any]
) -> None:
    run = external(team["editor"], team["alpha"])
    batch = {
        "metrics": epoch_metrics(0, 0, 0.5, 0.5),
        "layers": [layer(0, 0, "a"), {**layer(0, 0, "b"), **change}],
    }
    response = team["editor"].post(f"{TRACK}/{run['id']}/batches", json=batch)
    assert response.status_code == 422
    assert any(d["loc"][: len(loc)] == loc for d in response.json()["detail"]), response.text
    assert counts(env, run["id"]) == (0, 0)


def test_duplicate_rows_inside_a_batch_are_refused(env: Env, team: dict[str, Any]) -> None:
    run = external(team["editor"], team["alpha"])
    batch = {"layers": [layer(0, 0, "a"), layer(0, 0, "a")]}
    response = team["editor"].post(f"{TRACK}/{run['id']}/batches", json=batch)
    assert response.status_code == 422 and "duplicate" in response.text
    assert counts(env, run["id"]) == (0, 0)


def test_a_new_stage_needs_its_type(env: Env, team: dict[str, Any]) -> None:
    run = external(team["editor"], team["alpha"])
    batch = {"stages": [{"index": 3, "status": "running"}]}
    response = team["editor"].post(f"{TRACK}/{run['id']}/batches", json=batch)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "stages", 0, "type"]


def test_roles_outsiders_and_worker_runs(env: Env, team: dict[str, Any]) -> None:
    run = external(team["editor"], team["alpha"])
    url = f"{TRACK}/{run['id']}/batches"
    rows = {"layers": [layer(0, 0, "a")]}
    assert team["viewer"].post(url, json=rows).status_code == 403
    assert team["outsider"].post(url, json=rows).status_code == 404
    assert (
        team["outsider"].post(f"{TRACK}/{run['id']}/finish", json={"status": "failed"}).status_code
        == 404
    )
    assert (
        team["viewer"]
        .post(TRACK, json={"project": team["alpha"], "description": "d", "name": "n"})
        .status_code
        == 403
    )
    queued = env.submit(team["editor"], team["alpha"])
    response = team["editor"].post(f"{TRACK}/{queued['id']}/batches", json=rows)
    assert response.status_code == 409 and response.json()["field"] == "external"
    assert team["editor"].post(f"/api/v1/runs/{run['id']}/retry").status_code == 409
    assert counts(env, run["id"]) == (0, 0)


def test_checkpoints_are_validated_and_kept_once(env: Env, team: dict[str, Any]) -> None:
    run = external(team["editor"], team["alpha"], recipe=recipe(), description=None, name=None)
    url = f"{TRACK}/{run['id']}/checkpoints"
    weights = save({k: v.contiguous() for k, v in build_model("digits-cnn").state_dict().items()})
    form = {"stage": "0", "epoch": "1", "stage_done": "true"}
    files = {"file": ("stage0.safetensors", weights)}
    first = team["editor"].post(url, files=files, data=form)
    assert first.status_code == 201, first.text
    again = team["editor"].post(url, files=files, data=form)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    listed = team["viewer"].get(f"/api/v1/runs/{run['id']}/artifacts").json()
    assert [a["kind"] for a in listed] == ["checkpoint"]
    bad = team["editor"].post(url, files={"file": ("x.safetensors", b"\x80\x04pickle")}, data=form)
    assert bad.status_code == 422 and bad.json()["field"] == "file"
    download = team["viewer"].get(f"/api/v1/artifacts/{first.json()['id']}/download")
    assert download.content == weights
    stage = team["viewer"].get(f"/api/v1/runs/{run['id']}").json()["stages"][1]
    assert stage["checkpoint"] == listed[0]["path"] if "path" in listed[0] else stage["checkpoint"]


def test_finish_ends_the_run_and_refuses_later_rows(env: Env, team: dict[str, Any]) -> None:
    run = external(team["editor"], team["alpha"])
    url = f"{TRACK}/{run['id']}"
    stage = {"index": 0, "type": "prune", "status": "running"}
    team["editor"].post(f"{url}/batches", json={"stages": [stage]})
    done = team["editor"].post(f"{url}/finish", json={"status": "succeeded"})
    assert done.status_code == 200 and done.json()["status"] == "succeeded"
    assert done.json()["stages"][0]["status"] == "succeeded"
    assert team["editor"].post(f"{url}/finish", json={"status": "succeeded"}).status_code == 200
    assert team["editor"].post(f"{url}/finish", json={"status": "failed"}).status_code == 409
    late = team["editor"].post(f"{url}/batches", json={"layers": [layer(0, 0, "a")]})
    assert late.status_code == 409 and late.json()["field"] == "status"


def test_a_project_scoped_token_sees_and_feeds_only_its_project(
    env: Env, team: dict[str, Any]
) -> None:
    editor = team["users"]["editor"]
    gamma = env.project("gamma", {editor: "editor"})
    other = external(team["editor"], gamma)
    made = team["editor"].post("/api/v1/auth/tokens", json={"name": "ci", "project": team["alpha"]})
    assert made.status_code == 201 and made.json()["project_id"] == team["alpha"]
    scoped = env.anonymous()
    scoped.headers["Authorization"] = f"Bearer {made.json()['token']}"
    mine = external(scoped, team["alpha"])
    url = f"{TRACK}/{mine['id']}/batches"
    assert scoped.post(url, json={"layers": [layer(0, 0, "a")]}).json()["layers"] == 1
    assert (
        scoped.post(TRACK, json={"project": gamma, "description": "d", "name": "n"}).status_code
        == 404
    )
    assert (
        scoped.post(f"{TRACK}/{other['id']}/finish", json={"status": "failed"}).status_code == 404
    )
    assert scoped.get(f"/api/v1/runs/{other['id']}").status_code == 404
    assert [p["id"] for p in scoped.get("/api/v1/projects").json()] == [team["alpha"]]
    listed = {r["id"] for r in scoped.get("/api/v1/runs").json()["items"]}
    assert listed == {mine["id"]}
    unscoped = {r["id"] for r in team["editor"].get("/api/v1/runs").json()["items"]}
    assert unscoped == {mine["id"], other["id"]}
    foreign = team["editor"].post(
        "/api/v1/auth/tokens", json={"name": "x", "project": team["beta"]}
    )
    assert foreign.status_code == 404
