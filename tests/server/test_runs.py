"""Runs: submit (validation, idempotency, enqueue after commit), list, lifecycle, clone, delete."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from server.db.models import Event, Metric, Run
from server.runs import progress
from server.runs.schemas import RunOut
from tests.server.conftest import Env, recipe


def test_submit_validates_stores_and_enqueues_after_commit(env: Env, team: dict[str, Any]) -> None:
    seen: list[str] = []

    def enqueue(run_id: int) -> None:  # the row must be committed and visible to the worker
        with env.session() as session:
            seen.append(session.get(Run, run_id).status)  # type: ignore[union-attr]

    env.app.state.enqueue_run = enqueue
    run = env.submit(team["editor"], team["alpha"], tags=["baseline"], notes="first")
    assert run["status"] == "queued" and seen == ["queued"]
    assert run["model"] == "digits-cnn" and run["dataset"] == "digits"
    assert run["method"] == "spatial-winograd" and run["owner"] == "eddie"
    assert [s["index"] for s in run["stages"]] == [-1, 0, 1]
    assert [s["type"] for s in run["stages"]][1:] == ["spatial-structured", "winograd-direct"]
    assert len(run["recipe_sha256"]) == 64 and run["tags"] == ["baseline"]


def test_yaml_recipes_are_accepted(env: Env, team: dict[str, Any]) -> None:
    import yaml

    response = team["editor"].post(
        "/api/v1/runs", json={"project": team["alpha"], "recipe": yaml.safe_dump(recipe())}
    )
    assert response.status_code == 201


def test_invalid_recipes_are_422_naming_the_field_path(team: dict[str, Any]) -> None:
    bad = recipe()
    bad["stages"][1]["target"] = 1.5
    response = team["editor"].post("/api/v1/runs", json={"project": team["alpha"], "recipe": bad})
    assert response.status_code == 422
    assert ["body", "recipe", "stages", 1, "target"] in [
        e["loc"] for e in response.json()["detail"]
    ]
    unknown = team["editor"].post(
        "/api/v1/runs", json={"project": team["alpha"], "recipe": recipe(colour="red")}
    )
    assert ["body", "recipe", "colour"] in [e["loc"] for e in unknown.json()["detail"]]


def test_init_checkpoint_must_be_an_artifact_of_the_same_project(team: dict[str, Any]) -> None:
    for value in ("/etc/passwd", "artifact:999"):
        response = team["editor"].post(
            "/api/v1/runs",
            json={"project": team["alpha"], "recipe": recipe(pretrain=None, init_checkpoint=value)},
        )
        assert response.status_code == 422, value
        assert response.json()["detail"][0]["loc"] == ["body", "recipe", "init_checkpoint"]


def test_viewers_cannot_submit_and_outsiders_get_404(team: dict[str, Any]) -> None:
    body = {"project": team["alpha"], "recipe": recipe()}
    assert team["viewer"].post("/api/v1/runs", json=body).status_code == 403
    assert team["outsider"].post("/api/v1/runs", json=body).status_code == 404


def test_idempotency_key_returns_the_original_run(env: Env, team: dict[str, Any]) -> None:
    headers = {"Idempotency-Key": "submit-1"}
    body = {"project": team["alpha"], "recipe": recipe()}
    first = team["editor"].post("/api/v1/runs", json=body, headers=headers)
    again = team["editor"].post("/api/v1/runs", json=body, headers=headers)
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"] and env.enqueued == [first.json()["id"]]
    other_user = team["owner"].post("/api/v1/runs", json=body, headers=headers)
    assert other_user.status_code == 201 and other_user.json()["id"] != first.json()["id"]
    changed = {"project": team["alpha"], "recipe": recipe(seed=1)}
    conflict = team["editor"].post("/api/v1/runs", json=changed, headers=headers)
    assert conflict.status_code == 409 and conflict.json()["field"] == "Idempotency-Key"


def test_list_filters_sorts_and_paginates_with_a_cursor(env: Env, team: dict[str, Any]) -> None:
    editor, alpha = team["editor"], team["alpha"]
    ids = [
        env.submit(editor, alpha, tags=["even" if i % 2 == 0 else "odd"])["id"] for i in range(7)
    ]
    env.submit(
        team["owner"],
        alpha,
        recipe=recipe(method="spatial-structured", stages=[recipe()["stages"][0]]),
    )
    env.submit(team["outsider"], team["beta"])
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 3, "owner": "eddie"}
        if cursor:
            params["cursor"] = cursor
        page = editor.get("/api/v1/runs", params=params).json()
        seen += [r["id"] for r in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(ids, reverse=True)
    asc = editor.get("/api/v1/runs", params={"order": "asc", "owner": "eddie"}).json()["items"]
    assert [r["id"] for r in asc] == ids
    tagged = editor.get("/api/v1/runs", params={"tag": "odd"}).json()["items"]
    assert sorted(r["id"] for r in tagged) == ids[1::2]
    structured = editor.get("/api/v1/runs", params={"method": "spatial-structured"}).json()
    assert [r["owner"] for r in structured["items"]] == ["olivia"]
    everything = editor.get("/api/v1/runs", params={"limit": 200}).json()["items"]
    assert len(everything) == 8  # the outsider's run in project beta is not visible
    by_status = editor.get(
        "/api/v1/runs", params={"status": ["queued", "failed"], "sort": "status"}
    ).json()
    assert len(by_status["items"]) == 8
    assert editor.get("/api/v1/runs", params={"dataset": "cifar10"}).json()["items"] == []


def test_list_rows_match_the_validated_run_schema(env: Env, team: dict[str, Any]) -> None:
    # the list is dumped straight from the database: it must read exactly like RunOut would
    created = env.submit(team["editor"], team["alpha"], tags=["b-tag", "a:tag", "c/tag"])
    (item,) = team["editor"].get("/api/v1/runs").json()["items"]
    assert set(item) == set(RunOut.model_fields)
    detail = team["editor"].get(f"/api/v1/runs/{created['id']}").json()
    assert item == {key: detail[key] for key in RunOut.model_fields}
    assert item["tags"] == ["a:tag", "b-tag", "c/tag"]
    assert RunOut.model_validate(item).model_dump(mode="json") == item


def test_malicious_filters_are_just_values(env: Env, team: dict[str, Any]) -> None:
    env.submit(team["editor"], team["alpha"])
    for value in ("' OR 1=1 --", "digits-cnn'; DROP TABLE runs; --", "%"):
        response = team["editor"].get("/api/v1/runs", params={"model": value, "tag": value})
        assert response.status_code == 200 and response.json()["items"] == []
    assert len(team["editor"].get("/api/v1/runs").json()["items"]) == 1


def test_cursor_must_match_the_sort(env: Env, team: dict[str, Any]) -> None:
    for _ in range(2):
        env.submit(team["editor"], team["alpha"])
    cursor = team["editor"].get("/api/v1/runs", params={"limit": 1}).json()["next_cursor"]
    wrong = team["editor"].get("/api/v1/runs", params={"cursor": cursor, "sort": "updated"})
    assert wrong.status_code == 422 and wrong.json()["field"] == "cursor"
    garbage = team["editor"].get("/api/v1/runs", params={"cursor": "!!notbase64"})
    assert garbage.status_code == 422


def test_cancel_queued_is_immediate_running_is_cooperative(env: Env, team: dict[str, Any]) -> None:
    editor = team["editor"]
    queued = env.submit(editor, team["alpha"])
    cancelled = editor.post(f"/api/v1/runs/{queued['id']}/cancel").json()
    assert cancelled["status"] == "cancelled" and cancelled["finished_at"]
    assert editor.post(f"/api/v1/runs/{queued['id']}/cancel").status_code == 409
    running = env.submit(editor, team["alpha"])
    with env.session() as session:
        assert progress.claim_run(session, running["id"], "worker-1") is not None
    requested = editor.post(f"/api/v1/runs/{running['id']}/cancel").json()
    assert requested["status"] == "running" and requested["cancel_requested"] is True
    with env.session() as session:
        assert progress.heartbeat(session, running["id"], "worker-1").cancel_requested
    assert team["viewer"].post(f"/api/v1/runs/{running['id']}/cancel").status_code == 403


def test_retry_and_resume_requeue_and_reset_later_stages(env: Env, team: dict[str, Any]) -> None:
    editor = team["editor"]
    run = env.submit(editor, team["alpha"])
    run_id = run["id"]
    with env.session() as session:
        progress.claim_run(session, run_id, "w")
        for index in (-1, 0):
            progress.start_stage(session, run_id, index)
            progress.record_metrics(session, run_id, index, 0, {"loss": 1.0})
            progress.finish_stage(session, run_id, index, sparsity=0.3)
        progress.start_stage(session, run_id, 1)
        progress.record_metrics(session, run_id, 1, 0, {"loss": 2.0})
        progress.finish_run(session, run_id, "failed", "boom")
    bad = editor.post(f"/api/v1/runs/{run_id}/resume", json={"stage": 7})
    assert bad.status_code == 422 and bad.json()["field"] == "stage"
    assert editor.post(f"/api/v1/runs/{run_id}/cancel").status_code == 409  # already failed
    restart = {"mode": "restart"}  # the failed stage starts over: its results are dropped
    retried = editor.post(f"/api/v1/runs/{run_id}/retry", json=restart).json()
    assert retried["status"] == "queued" and retried["error"] is None
    assert retried["attempt_count"] == 1 and retried["progress"]["stage"] == 1
    assert [s["status"] for s in retried["stages"]] == ["succeeded", "succeeded", "queued"]
    with env.session() as session:
        stages = set(session.scalars(select(Metric.stage).where(Metric.run_id == run_id)))
        assert stages == {-1, 0}
        progress.finish_run(session, run_id, "succeeded")
    resumed = editor.post(f"/api/v1/runs/{run_id}/resume", json={"stage": 0}).json()
    assert [s["status"] for s in resumed["stages"]] == ["succeeded", "queued", "queued"]
    assert env.enqueued == [run_id, run_id, run_id]
    assert editor.post(f"/api/v1/runs/{run_id}/retry").status_code == 409  # queued already
    assert editor.post(f"/api/v1/runs/{run_id}/cancel").json()["status"] == "cancelled"
    later = editor.post(f"/api/v1/runs/{run_id}/resume", json={"stage": 1})
    assert later.status_code == 409  # stage 0 has not succeeded since the resume


def test_clone_applies_a_json_merge_patch(env: Env, team: dict[str, Any]) -> None:
    source = env.submit(team["editor"], team["alpha"], tags=["a"])
    patch = {"seed": 3, "stages": [recipe()["stages"][0]], "method": "spatial-structured"}
    clone = team["editor"].post(f"/api/v1/runs/{source['id']}/clone", json={"patch": patch})
    assert clone.status_code == 201
    body = clone.json()
    assert body["recipe"]["seed"] == 3 and len(body["stages"]) == 2 and body["tags"] == ["a"]
    assert body["recipe_sha256"] != source["recipe_sha256"]
    bad = team["editor"].post(
        f"/api/v1/runs/{source['id']}/clone", json={"patch": {"batch_size": 0}}
    )
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][:3] == [
        "body",
        "patch",
        "batch_size",
    ]
    removed = team["editor"].post(
        f"/api/v1/runs/{source['id']}/clone", json={"patch": {"pretrain": None}}
    )
    assert removed.status_code == 422  # neither pretrain nor init_checkpoint is left


def test_patch_tags_notes_and_delete(env: Env, team: dict[str, Any]) -> None:
    run = env.submit(team["editor"], team["alpha"])
    patched = team["editor"].patch(
        f"/api/v1/runs/{run['id']}", json={"tags": ["b", "a", "a"], "notes": "n"}
    )
    assert patched.json()["tags"] == ["a", "b"] and patched.json()["notes"] == "n"
    assert team["viewer"].delete(f"/api/v1/runs/{run['id']}").status_code == 403
    assert team["editor"].delete(f"/api/v1/runs/{run['id']}").status_code == 204
    assert team["editor"].get(f"/api/v1/runs/{run['id']}").status_code == 404
    with env.session() as session:
        kinds = list(session.scalars(select(Event.kind).order_by(Event.id)))
    assert kinds == ["run.created", "run.updated", "run.deleted"]


def test_reads_run_in_autocommit_and_writes_in_a_transaction(
    env: Env, team: dict[str, Any]
) -> None:
    """GETs skip the BEGIN / ROLLBACK round trips; a POST still commits or rolls back whole."""
    from sqlalchemy import event

    modes: list[bool] = []  # per statement: run inside a transaction?

    def record(conn: Any, *_: Any) -> None:
        modes.append(conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT")

    engine = env.app.state.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        assert team["viewer"].get("/api/v1/runs").status_code == 200
        reads, modes[:] = list(modes), []
        env.submit(team["editor"], team["alpha"])
        writes = list(modes)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert reads and not any(reads)
    assert writes and all(writes)
