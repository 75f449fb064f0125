"""Winograd-ReLU runs' per-layer activation counts (Liu et al. 2018) in the API: the rows the
core computes are stored in ``activation_density`` / ``mult_activation_sparse`` and come back
from the layers endpoint (Python path on SQLite, json_agg on PostgreSQL) and the export; rows of
other layers carry nulls."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, replace
from typing import Any

import pytest
import torch

from server.runs import progress
from tests.server.conftest import Env
from winoprune.models import build_model
from winoprune.pruning.activations import count_activations, with_activation_stats
from winoprune.pruning.metrics import LayerStat, layer_stats
from winoprune.winograd.transforms import standard_transform

TILE = "F(2,3)"


def _core_rows() -> list[LayerStat]:
    """Rows of a digits Winograd-ReLU model counted on a few random images, plus a spatial
    1x1 row that has no activation counts."""
    torch.manual_seed(0)
    model = build_model("digits-cnn-wrelu", tile=TILE).eval()
    with count_activations(model) as counts, torch.no_grad():
        model(torch.randn(4, *model.input_shape))
    rows = layer_stats(model, model.input_shape, standard_transform(TILE))
    rows = with_activation_stats(rows, model, counts)
    return [*rows, LayerStat("head.point", "spatial", 64, 64, 0.0, 4096, 4096, None, None)]


def _stored_run(env: Env, team: dict[str, Any], rows: list[LayerStat]) -> int:
    run_id = int(env.submit(team["editor"], team["alpha"])["id"])
    with env.session() as session:
        progress.claim_run(session, run_id, "w")
        progress.record_layer_stats(session, run_id, 0, 1, [asdict(r) for r in rows])
    return run_id


def test_layers_and_export_carry_the_activation_counts(env: Env, team: dict[str, Any]) -> None:
    rows = _core_rows()
    counted = [r for r in rows if r.mult_activation_sparse is not None]
    assert len(counted) == 4 and any(r.activation_density < 0.9 for r in counted)  # type: ignore[operator]
    run_id = _stored_run(env, team, rows)

    body = team["viewer"].get(f"/api/v1/runs/{run_id}/layers").json()
    got = {
        layer: (density, mults)
        for layer, density, mults in zip(
            body["layer"], body["activation_density"], body["mult_activation_sparse"], strict=True
        )
    }
    want = {r.layer: (r.activation_density, r.mult_activation_sparse) for r in rows}
    assert got.keys() == want.keys() and got["head.point"] == (None, None)
    for layer, (density, mults) in want.items():
        assert got[layer][1] == mults
        assert got[layer][0] == (None if density is None else pytest.approx(density, rel=1e-12))
    # no spatial rows in such a run: each row's stored direct cost gives the reduction
    reductions = dict(zip(body["layer"], body["mult_reduction"], strict=True))
    directs = dict(zip(body["layer"], body["mult_direct"], strict=True))
    for row in rows:
        assert directs[row.layer] == row.mult_direct
        if row.domain == "winograd":
            assert reductions[row.layer] == pytest.approx(row.mult_reduction)
    # the weight-only count stays beside it: activations only ever skip more products
    for layer, weight_only, mults in zip(
        body["layer"], body["multiplications"], body["mult_activation_sparse"], strict=True
    ):
        assert mults is None or mults <= weight_only, layer

    export = team["viewer"].get(
        f"/api/v1/runs/{run_id}/export", params={"table": "layers", "format": "csv"}
    )
    records = {r["layer"]: r for r in csv.DictReader(io.StringIO(export.text))}
    conv1 = next(r for r in counted if r.layer == "features.conv1")
    assert int(records["features.conv1"]["mult_activation_sparse"]) == conv1.mult_activation_sparse
    assert float(records["features.conv1"]["activation_density"]) == pytest.approx(
        conv1.activation_density
    )
    assert records["head.point"]["activation_density"] == ""
    as_json = team["viewer"].get(
        f"/api/v1/runs/{run_id}/export", params={"table": "layers", "format": "json"}
    )
    text = as_json.text
    assert '"mult_activation_sparse"' in text and str(conv1.mult_activation_sparse) in text
    assert json.loads(text)  # valid JSON


def test_a_rerun_epoch_overwrites_the_activation_counts(env: Env, team: dict[str, Any]) -> None:
    rows = _core_rows()
    run_id = _stored_run(env, team, rows)
    halved = [
        r
        if r.mult_activation_sparse is None
        else replace(r, mult_activation_sparse=r.mult_activation_sparse // 2)
        for r in rows
    ]
    with env.session() as session:  # the same (stage, epoch) again: a redelivered stage
        progress.record_layer_stats(session, run_id, 0, 1, [asdict(r) for r in halved])
    body = team["viewer"].get(f"/api/v1/runs/{run_id}/layers", params={"domain": "winograd"}).json()
    assert body["mult_activation_sparse"] == [
        r.mult_activation_sparse for r in halved if r.domain == "winograd"
    ]
