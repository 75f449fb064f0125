"""report.html's operations table: each layer as it runs at the last (stage, epoch), with the
counts of its row, and the cost source named."""

from __future__ import annotations

from dataclasses import asdict

from winoprune.cli.operations_table import layer_operations, operations_table
from winoprune.models import build_model
from winoprune.pruning.metrics import layer_stats
from winoprune.winograd.transforms import standard_transform


def test_table_shows_the_rows_the_model_runs():
    rows = layer_stats(build_model("digits-cnn-adder"), (1, 8, 8), standard_transform("F(2,3)"))
    layers = [{"stage": -1, "epoch": e, **asdict(r)} for e in (0, 1) for r in rows]
    chosen = layer_operations(layers)
    assert [(r["layer"], r["domain"], r["epoch"]) for r in chosen] == [
        ("features.conv0", "winograd", 1),
        ("features.conv1", "spatial", 1),
        ("features.conv2", "spatial", 1),
        ("features.conv3", "spatial", 1),
    ]
    html = operations_table(layers)
    conv1 = next(r for r in rows if r.layer == "features.conv1")
    assert f"<td>0</td><td>{conv1.additions:,}</td><td>{conv1.energy_pj / 1e3:.1f}</td>" in html
    assert "Horowitz, ISSCC 2014" in html and "0.9 pJ" in html
    assert operations_table([]) == ""
