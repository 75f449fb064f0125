"""`winoprune run` and `winoprune inspect` report the multiplication reduction versus direct
convolution (direct / sparse Winograd multiplications) beside the Winograd sparsity: in
metrics.jsonl, layers.csv, report.html, the stage table and the inspect table."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from tests.core.cli.test_cli import ROOT, cli


def tiny_recipe(tmp_path: Path) -> Path:
    """The digits demo cut to 1 dense epoch, one spatial and one Winograd stage of 1 epoch."""
    data = yaml.safe_load((ROOT / "recipes" / "digits-demo.yaml").read_text())
    data["pretrain"]["epochs"] = 1
    data["stages"] = [dict(data["stages"][0], epochs=1), dict(data["stages"][2], epochs=1)]
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_run_and_inspect_report_the_reduction_everywhere(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = cli("run", str(tiny_recipe(tmp_path)), "--out", str(out))
    assert "mult. reduction" in proc.stdout

    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    for record in records:
        expected = record["mult_direct"] / record["mult_winograd_sparse"]
        assert record["mult_reduction"] == pytest.approx(expected)
    final = records[-1]
    # 55 % sparse F(4,3) layers: well past the dense tile's 4x
    assert final["mult_reduction"] > 4.0
    assert f"{final['mult_reduction']:.2f}" in proc.stdout

    with (out / "layers.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    winograd = [r for r in rows if r["domain"] == "winograd"]
    assert winograd
    for row in winograd:
        direct, sparse = int(row["mult_direct"]), int(row["mult_winograd_sparse"])
        assert float(row["mult_reduction"]) == pytest.approx(direct / sparse)

    html = (out / "report.html").read_text()
    assert "Multiplication reduction versus direct convolution per layer" in html
    assert f"reduction versus direct convolution {final['mult_reduction']:.2f}x" in html

    checkpoint = sorted((out / "checkpoints").glob("stage+001-*.safetensors"))[-1]
    table = cli("inspect", str(checkpoint)).stdout
    assert "reduction vs direct" in table
    last = {r["layer"]: r for r in winograd if (r["stage"], r["epoch"]) == ("1", "1")}
    for layer, row in last.items():
        line = next(text for text in table.splitlines() if f" {layer} " in text)
        assert f"{float(row['mult_reduction']):.2f}x" in line
