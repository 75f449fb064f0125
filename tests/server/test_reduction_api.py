"""The API's multiplication reduction versus direct convolution, derived from the stored
multiplication columns: per stage and per run (metric totals), per layer (layer rows), in lists,
details, the layers endpoint and the export."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from server.runs import progress
from tests.server.conftest import Env

# layer -> direct multiplications per image (its spatial rows), sparse Winograd at stage 0
DIRECT = {"features.conv0": 36_864, "features.conv1": 589_824}
SPARSE = {"features.conv0": 8_192, "features.conv1": 0}  # conv1 fully pruned: no figure
POINT_DIRECT = 4_096  # a 1x1 conv: spatial rows only, direct in every total


def _row(layer: str, domain: str, multiplications: int) -> dict[str, Any]:
    return {
        "layer": layer,
        "domain": domain,
        "numel": 576,
        "nnz": 100,
        "sparsity": 0.5,
        "multiplications": multiplications,
    }


def _totals(sparse: int) -> dict[str, float]:
    direct = sum(DIRECT.values()) + POINT_DIRECT
    return {"top1": 0.5, "mult_direct": direct, "mult_winograd_sparse": sparse + POINT_DIRECT}


def _worked_run(env: Env, team: dict[str, Any], with_spatial: bool = True) -> int:
    """Stage -1 (2 epochs) in the spatial domain, stage 0 (2 epochs) in the Winograd domain."""
    run_id = int(env.submit(team["editor"], team["alpha"])["id"])
    with env.session() as session:
        progress.claim_run(session, run_id, "w")
        for epoch in range(2):
            if with_spatial:
                rows = [_row(n, "spatial", d) for n, d in DIRECT.items()]
                rows += [_row(n, "winograd", d // 4) for n, d in DIRECT.items()]
                rows.append(_row("features.point", "spatial", POINT_DIRECT))
                progress.record_layer_stats(session, run_id, -1, epoch, rows)
                progress.record_metrics(
                    session, run_id, -1, epoch, _totals(sum(DIRECT.values()) // 4)
                )
            rows = [_row(n, "winograd", SPARSE[n] * (2 - epoch)) for n in DIRECT]
            rows.append(_row("features.point", "spatial", POINT_DIRECT))
            progress.record_layer_stats(session, run_id, 0, epoch, rows)
            progress.record_metrics(
                session, run_id, 0, epoch, _totals(sum(SPARSE.values()) * (2 - epoch))
            )
    return run_id


def _expected(sparse: int) -> float:
    totals = _totals(sparse)
    return totals["mult_direct"] / totals["mult_winograd_sparse"]


def test_run_detail_and_list_report_the_reduction_per_stage_and_run(
    env: Env, team: dict[str, Any]
) -> None:
    run_id = _worked_run(env, team)
    idle = int(env.submit(team["editor"], team["alpha"])["id"])
    body = team["viewer"].get(f"/api/v1/runs/{run_id}").json()
    stages = {s["index"]: s["mult_reduction"] for s in body["stages"]}
    # the last epoch of each stage: stage 0 ends at epoch 1 (half of epoch 0's sparse cost)
    assert stages[-1] == pytest.approx(_expected(sum(DIRECT.values()) // 4))
    assert stages[0] == pytest.approx(_expected(sum(SPARSE.values())))
    assert body["mult_reduction"] == stages[0]
    assert team["viewer"].get(f"/api/v1/runs/{idle}").json()["mult_reduction"] is None

    items = team["viewer"].get("/api/v1/runs", params={"project": team["alpha"]}).json()["items"]
    by_id = {item["id"]: item["mult_reduction"] for item in items}
    assert by_id == {run_id: pytest.approx(stages[0]), idle: None}
    assert not any("latest_mult" in key for item in items for key in item)


def test_the_list_reduction_follows_a_resume_that_drops_stage_results(
    env: Env, team: dict[str, Any]
) -> None:
    run_id = _worked_run(env, team)
    with env.session() as session:
        for index in (-1, 0):
            progress.finish_stage(session, run_id, index)
        progress.finish_run(session, run_id, "succeeded")

    def listed() -> float | None:
        items = team["viewer"].get("/api/v1/runs", params={"project": team["alpha"]}).json()
        reduction: float | None = {i["id"]: i["mult_reduction"] for i in items["items"]}[run_id]
        return reduction

    assert listed() == pytest.approx(_expected(sum(SPARSE.values())))
    resumed = team["editor"].post(f"/api/v1/runs/{run_id}/resume", json={"stage": 0})
    assert resumed.status_code == 200
    # stage 0's metric rows are gone: the latest totals are stage -1's last epoch again
    assert listed() == pytest.approx(_expected(sum(DIRECT.values()) // 4))


def test_layers_carry_the_direct_cost_and_the_reduction_of_winograd_rows(
    env: Env, team: dict[str, Any]
) -> None:
    run_id = _worked_run(env, team)
    body = (
        team["viewer"].get(f"/api/v1/runs/{run_id}/layers", params={"stage": 0, "epoch": 0}).json()
    )
    rows = {
        (layer, domain): (direct, reduction)
        for layer, domain, direct, reduction in zip(
            body["layer"], body["domain"], body["mult_direct"], body["mult_reduction"], strict=True
        )
    }
    conv0 = DIRECT["features.conv0"] / (2 * SPARSE["features.conv0"])
    assert rows[("features.conv0", "winograd")] == (DIRECT["features.conv0"], pytest.approx(conv0))
    # fully pruned: the direct cost is known, the reduction is unbounded (null)
    assert rows[("features.conv1", "winograd")] == (DIRECT["features.conv1"], None)
    # a spatial row: its own multiplications are the direct cost; no Winograd figure
    assert rows[("features.point", "spatial")] == (POINT_DIRECT, None)

    export = team["viewer"].get(
        f"/api/v1/runs/{run_id}/export", params={"table": "layers", "format": "csv"}
    )
    records = list(csv.DictReader(io.StringIO(export.text)))
    assert len(records) == 2 * 5 + 2 * 3 and {"mult_direct", "mult_reduction"} <= set(records[0])
    row = next(
        r
        for r in records
        if (r["stage"], r["epoch"], r["layer"], r["domain"])
        == ("0", "0", "features.conv0", "winograd")
    )
    assert float(row["mult_reduction"]) == pytest.approx(conv0)


def test_a_run_without_spatial_rows_has_no_direct_cost_per_layer(
    env: Env, team: dict[str, Any]
) -> None:
    run_id = _worked_run(env, team, with_spatial=False)
    body = team["viewer"].get(f"/api/v1/runs/{run_id}/layers", params={"domain": "winograd"}).json()
    assert body["layer"] and set(body["mult_direct"]) == {None}
    assert set(body["mult_reduction"]) == {None}
    # the overall figure comes from the metric totals, which every epoch has
    detail = team["viewer"].get(f"/api/v1/runs/{run_id}").json()
    assert detail["mult_reduction"] == pytest.approx(_expected(sum(SPARSE.values())))
