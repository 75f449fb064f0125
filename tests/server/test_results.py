"""Worker writes (idempotent upserts) -> columnar metrics/layers, exports, changes and SSE."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from server.runs import progress
from tests.server.conftest import Env


def _layer_rows(scale: int) -> list[dict[str, Any]]:
    return [
        {
            "layer": f"features.conv{i}",
            "domain": domain,
            "numel": 576 * scale,
            "nnz": 100 * i,
            "sparsity": 1 - 100 * i / (576 * scale),
            "multiplications": 1000 * i,
        }
        for i in range(3)
        for domain in ("spatial", "winograd")
    ]


def _worked_run(env: Env, team: dict[str, Any]) -> int:
    run_id = int(env.submit(team["editor"], team["alpha"])["id"])
    with env.session() as session:
        progress.claim_run(session, run_id, "w")
        for epoch in range(2):
            progress.record_metrics(
                session, run_id, 0, epoch, {"loss": 1.0 / (epoch + 1), "top1": 0.5 + epoch / 10}
            )
            progress.record_layer_stats(session, run_id, 0, epoch, _layer_rows(1))
        # Running a stage twice rewrites the same rows (upserts), never duplicates them.
        progress.record_metrics(session, run_id, 0, 1, {"loss": 0.25})
        progress.record_layer_stats(session, run_id, 0, 1, _layer_rows(2))
    return run_id


def test_metrics_are_columnar_and_incremental(env: Env, team: dict[str, Any]) -> None:
    run_id = _worked_run(env, team)
    body = team["viewer"].get(f"/api/v1/runs/{run_id}/metrics").json()
    assert body["stage"] == [0, 0] and body["epoch"] == [0, 1]
    assert body["values"] == {"loss": [1.0, 0.25], "top1": [0.5, 0.6]}
    assert (
        team["viewer"]
        .get(f"/api/v1/runs/{run_id}/metrics", params={"after": body["cursor"]})
        .json()["epoch"]
        == []
    )
    with env.session() as session:
        progress.record_metrics(session, run_id, 1, 0, {"loss": 0.1})
    new = (
        team["viewer"]
        .get(f"/api/v1/runs/{run_id}/metrics", params={"after": body["cursor"]})
        .json()
    )
    assert new["stage"] == [1] and new["values"] == {"loss": [0.1]}


def test_layer_statistics_are_typed_columns(env: Env, team: dict[str, Any]) -> None:
    run_id = _worked_run(env, team)
    body = (
        team["viewer"]
        .get(f"/api/v1/runs/{run_id}/layers", params={"epoch": 1, "domain": "winograd"})
        .json()
    )
    assert body["layer"] == ["features.conv0", "features.conv1", "features.conv2"]
    assert body["numel"] == [1152] * 3 and body["domain"] == ["winograd"] * 3
    everything = team["viewer"].get(f"/api/v1/runs/{run_id}/layers").json()
    assert len(everything["layer"]) == 12  # 2 epochs x 3 layers x 2 domains, no duplicates


def test_exports_as_csv_and_json(env: Env, team: dict[str, Any]) -> None:
    run_id = _worked_run(env, team)
    response = team["viewer"].get(
        f"/api/v1/runs/{run_id}/export", params={"table": "layers", "format": "csv"}
    )
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 12 and rows[0]["layer"] == "features.conv0"
    records = (
        team["viewer"]
        .get(f"/api/v1/runs/{run_id}/export", params={"table": "metrics", "format": "json"})
        .json()
    )
    assert {"stage": 0, "epoch": 1, "key": "loss", "value": 0.25} in records


def test_stage_rows_and_progress(env: Env, team: dict[str, Any]) -> None:
    run_id = int(env.submit(team["editor"], team["alpha"])["id"])
    with env.session() as session:
        run = progress.claim_run(session, run_id, "w1", device="cpu")
        assert run is not None and run.attempt_count == 1
        assert progress.claim_run(session, run_id, "w2") is None  # lease held by w1
        progress.start_stage(session, run_id, 0)
        beat = progress.heartbeat(session, run_id, "w1", stage=0, epoch=3)
        assert not beat.cancel_requested and not beat.lease_lost
        assert progress.heartbeat(session, run_id, "w2").lease_lost
        progress.finish_stage(
            session, run_id, 0, checkpoint="run-1/stage-0.safetensors", sparsity=0.31, accuracy=0.9
        )
        progress.finish_run(session, run_id, "succeeded")
    body = team["viewer"].get(f"/api/v1/runs/{run_id}").json()
    assert body["status"] == "succeeded" and body["device"] == "cpu"
    assert body["progress"] == {"stage": 0, "epoch": 3}
    stage = next(s for s in body["stages"] if s["index"] == 0)
    assert stage["status"] == "succeeded" and stage["sparsity"] == 0.31
    assert stage["duration_s"] is not None and body["lease_owner"] is None


def test_changes_polling_and_sse_resume(env: Env, team: dict[str, Any]) -> None:
    run_id = _worked_run(env, team)
    changes = team["viewer"].get(f"/api/v1/runs/{run_id}/changes").json()
    kinds = [e["kind"] for e in changes["events"]]
    assert kinds[:2] == ["run.created", "run.started"] and "layers" in kinds
    project = (
        team["viewer"]
        .get(f"/api/v1/projects/{team['alpha']}/changes", params={"after": changes["cursor"]})
        .json()
    )
    assert project["events"] == []
    first_id = changes["events"][0]["id"]
    with team["viewer"].stream(
        "GET",
        f"/api/v1/runs/{run_id}/events",
        params={"max_events": 2},
        headers={"Last-Event-ID": str(first_id)},
    ) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        text = "".join(stream.iter_text())
    ids = [int(line[3:].strip()) for line in text.splitlines() if line.startswith("id:")]
    assert ids == [e["id"] for e in changes["events"][1:3]]
    data = [json.loads(line[5:]) for line in text.splitlines() if line.startswith("data:")]
    assert data[0]["kind"] == "run.started"


def test_layer_statistics_come_in_stage_epoch_domain_order_on_every_database(
    env: Env, team: dict[str, Any]
) -> None:
    """Rows written out of order come back sorted by (stage, epoch, domain, id); PostgreSQL
    builds this answer itself (json_agg), other databases in Python: both give the same."""
    from server.results import service

    run_id = int(env.submit(team["editor"], team["alpha"])["id"])
    with env.session() as session:
        progress.claim_run(session, run_id, "w")
        for stage, epoch in ((1, 0), (0, 1), (0, 0)):
            rows = _layer_rows(stage + 1)
            progress.record_layer_stats(session, run_id, stage, epoch, rows[::-1])
    body = team["viewer"].get(f"/api/v1/runs/{run_id}/layers").json()
    points = list(zip(body["stage"], body["epoch"], body["domain"], strict=True))
    assert points == sorted(points) and len(points) == 18
    # within (stage, epoch, domain) the write (id) order stands: conv2, conv1, conv0
    assert body["run_id"] == run_id
    assert body["layer"][:3] == ["features.conv2", "features.conv1", "features.conv0"]
    with env.session() as session:
        assert body == {"run_id": run_id, **service.layers_columnar(session, run_id)}
    newer = team["viewer"].get(f"/api/v1/runs/{run_id}/layers", params={"after": body["cursor"]})
    assert newer.json()["stage"] == [] and newer.json()["cursor"] == body["cursor"]
