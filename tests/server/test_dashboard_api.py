"""Issue 16's API: retry modes, archive, the live-worker submit check, queue position and ETA."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from server.db.base import utcnow
from server.db.models import Metric, Run, WorkerInfo
from server.runs import progress
from tests.server.conftest import Env, recipe


def _fail_in_stage_1(env: Env, run_id: int) -> None:
    with env.session() as session:
        progress.claim_run(session, run_id, "w")
        for index in (-1, 0):
            progress.start_stage(session, run_id, index)
            progress.record_metrics(session, run_id, index, 0, {"loss": 1.0})
            progress.finish_stage(session, run_id, index, sparsity=0.3)
        progress.start_stage(session, run_id, 1)
        progress.record_metrics(session, run_id, 1, 0, {"loss": 2.0})
        progress.finish_run(session, run_id, "failed", "boom")


def _restart_from(env: Env, run_id: int) -> int | None:
    with env.session() as session:
        return session.scalar(select(Run.restart_from).where(Run.id == run_id))


def test_retry_continues_by_default_and_restarts_on_request(env: Env, team: dict[str, Any]) -> None:
    editor = team["editor"]
    run_id = env.submit(editor, team["alpha"])["id"]
    _fail_in_stage_1(env, run_id)
    retried = editor.post(f"/api/v1/runs/{run_id}/retry")
    assert retried.status_code == 200, retried.text
    stages = retried.json()["stages"]
    assert [s["status"] for s in stages] == ["succeeded", "succeeded", "queued"]
    assert stages[2]["started_at"] is not None  # the stage goes on: it keeps its start
    assert _restart_from(env, run_id) is None  # the worker keeps every checkpoint
    with env.session() as session:  # the epochs stage 1 trained stay
        kept = set(session.scalars(select(Metric.stage).where(Metric.run_id == run_id)))
        assert kept == {-1, 0, 1}
        progress.claim_run(session, run_id, "w")
        progress.finish_run(session, run_id, "failed", "boom again")
    again = editor.post(f"/api/v1/runs/{run_id}/retry", json={"mode": "restart"}).json()
    assert again["stages"][2]["started_at"] is None and _restart_from(env, run_id) == 1
    bad = editor.post(f"/api/v1/runs/{run_id}/retry", json={"mode": "sideways"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][-1] == "mode"


def test_archived_runs_leave_the_list_until_asked_for(env: Env, team: dict[str, Any]) -> None:
    editor, alpha = team["editor"], team["alpha"]
    first, second = env.submit(editor, alpha)["id"], env.submit(editor, alpha)["id"]
    queued = editor.patch(f"/api/v1/runs/{first}", json={"archived": True})
    assert queued.status_code == 409 and queued.json()["field"] == "archived"
    editor.post(f"/api/v1/runs/{first}/cancel")
    assert team["viewer"].patch(f"/api/v1/runs/{first}", json={"archived": True}).status_code == 403
    archived = editor.patch(f"/api/v1/runs/{first}", json={"archived": True, "notes": "n"})
    assert archived.status_code == 200 and archived.json()["archived_at"] is not None
    assert archived.json()["notes"] == "n"
    listed = [
        r["id"] for r in editor.get("/api/v1/runs", params={"project": alpha}).json()["items"]
    ]
    assert listed == [second]
    every = editor.get("/api/v1/runs", params={"project": alpha, "archived": True}).json()
    assert sorted(r["id"] for r in every["items"]) == [first, second]
    back = editor.patch(f"/api/v1/runs/{first}", json={"archived": False}).json()
    assert back["archived_at"] is None


def _register(env: Env, name: str, roots: list[str], folders: list[str], devices: list[str],
              age_s: float = 0) -> None:  # fmt: skip
    with env.session() as session:
        seen = utcnow() - timedelta(seconds=age_s)
        datasets = roots + folders
        session.add(WorkerInfo(name=name, devices=devices, data_roots=roots,
                               datasets=datasets, started_at=seen, seen_at=seen))  # fmt: skip
        session.commit()


def _cifar(root: str, device: str = "auto") -> dict[str, Any]:
    return recipe(
        model={"name": "cifar-tiny"}, data={"name": "cifar10", "root": root}, device=device
    )


def _post(team: dict[str, Any], body: dict[str, Any]) -> Any:
    return team["editor"].post("/api/v1/runs", json={"project": team["alpha"], "recipe": body})


def test_a_recipe_no_live_worker_can_run_is_refused_by_field(
    env: Env, team: dict[str, Any]
) -> None:
    # no worker registered: accepted as before (the worker's own check fails it later)
    assert _post(team, _cifar("/data/cifar10")).status_code == 201
    # a dead worker (not seen for an hour) does not count
    _register(env, "old:1", ["/srv/data"], ["/srv/data/cifar10"], ["cpu"], age_s=3600)
    assert _post(team, _cifar("/data/cifar10")).status_code == 201
    _register(env, "host:2", ["/srv/data"], ["/srv/data/cifar10", "/srv/data/c/x"], ["cpu"])
    refused = _post(team, _cifar("/data/cifar10"))
    assert refused.status_code == 422
    detail = refused.json()["detail"][0]
    assert detail["loc"] == ["body", "recipe", "data", "root"]
    assert "/srv/data" in detail["msg"] and "no live worker" in detail["msg"]
    assert _post(team, _cifar("/srv/data/missing")).status_code == 422  # listed depth: absent
    assert _post(team, _cifar("/srv/data/cifar10")).status_code == 201
    assert _post(team, _cifar("/srv/data/c/x/deeper/still")).status_code == 201
    gpu = _post(team, _cifar("/srv/data/cifar10", device="cuda"))
    assert gpu.status_code == 422 and gpu.json()["detail"][0]["loc"][-1] == "device"
    assert "cpu" in gpu.json()["detail"][0]["msg"]
    _register(env, "gpu:3", ["/srv/data"], ["/srv/data/cifar10"], ["cpu", "cuda:0 H200"])
    assert _post(team, _cifar("/srv/data/cifar10", device="cuda:0")).status_code == 201
    assert _post(team, _cifar("/srv/data/cifar10", device="cuda:1")).status_code == 422
    assert _post(team, recipe()).status_code == 201  # digits needs no folder


def test_queue_position_and_eta_from_measured_epoch_times(env: Env, team: dict[str, Any]) -> None:
    editor, alpha = team["editor"], team["alpha"]
    ids = [env.submit(editor, alpha)["id"] for _ in range(3)]
    assert [editor.get(f"/api/v1/runs/{i}").json()["queue_position"] for i in ids] == [1, 2, 3]
    assert editor.get(f"/api/v1/runs/{ids[0]}").json()["eta_s"] is None  # nothing measured
    with env.session() as session:
        progress.claim_run(session, ids[0], "w")
        progress.start_stage(session, ids[0], 0)
        run = session.get(Run, ids[0])
        assert run is not None
        run.progress_stage, run.progress_epoch = 0, 0
        run.system = {"epoch_s": 2.5, "device": "cpu"}
        session.commit()
    first = editor.get(f"/api/v1/runs/{ids[0]}").json()
    # recipe(): pretrain 1 epoch, stages 1 + 1 epochs; at stage 0 epoch 0: 1 + 1 left
    assert first["queue_position"] is None and first["eta_s"] == 2 * 2.5
    assert first["system"]["device"] == "cpu"
    second = editor.get(f"/api/v1/runs/{ids[1]}").json()
    assert second["queue_position"] == 1 and second["eta_s"] == 3 * 2.5  # borrowed figure
    queue = editor.get("/api/v1/queue", params={"project": alpha}).json()
    assert [(q["id"], q["queue_position"]) for q in queue] == [
        (ids[0], None),
        (ids[1], 1),
        (ids[2], 2),
    ]
    assert team["outsider"].get("/api/v1/queue", params={"project": alpha}).status_code == 404
